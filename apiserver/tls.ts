// The serving certificate. With none given, a private CA and a certificate it signs are generated and kept
// under the data folder, so kubeconfigs and APIService caBundles stay valid across restarts.
import { webcrypto } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// @peculiar/x509 resolves its parts through tsyringe, which needs the Reflect metadata API loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

export interface ServingCertificate {
  /** PEM of the CA that signed the certificate: what clients trust (kubeconfig, APIService caBundle). */
  ca: string;
  cert: string;
  key: string;
}

const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const validity = 10 * 365 * 24 * 3600 * 1000;

x509.cryptoProvider.set(webcrypto as Crypto);

async function keyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END PRIVATE KEY-----\n`;
}

async function importPrivateKey(pem: string): Promise<CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  return webcrypto.subtle.importKey('pkcs8', der, algorithm, false, ['sign']);
}

function sanOf(name: string): { type: 'ip' | 'dns'; value: string } {
  return { type: /^[\d.]+$|:/.test(name) ? 'ip' : 'dns', value: name };
}

function validityPeriod(): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(Date.now() - 3600 * 1000), notAfter: new Date(Date.now() + validity) };
}

/** PEMs of a CA's certificate and private key (ECDSA P-256, PKCS#8). */
export interface CertificateAuthority {
  cert: string;
  key: string;
}

/** A new private CA. */
export async function createCertificateAuthority(): Promise<CertificateAuthority> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=postgres-apiserver-ca',
    ...validityPeriod(),
    signingAlgorithm: algorithm,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem'), key: await privateKeyPem(keys.privateKey) };
}

/** A serving certificate for `names` (DNS names or IP addresses) signed by `ca`. */
export async function signServingCertificate(ca: CertificateAuthority, names: string[]): Promise<ServingCertificate> {
  const caCert = new x509.X509Certificate(ca.cert);
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${names[0] ?? 'localhost'}`,
    issuer: caCert.subject,
    ...validityPeriod(),
    signingAlgorithm: algorithm,
    publicKey: keys.publicKey,
    signingKey: await importPrivateKey(ca.key),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names.map(sanOf)),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { ca: ca.cert, cert: cert.toString('pem'), key: await privateKeyPem(keys.privateKey) };
}

/** A new CA and a serving certificate for `names` (DNS names or IP addresses) signed by it. */
export async function createServingCertificate(names: string[]): Promise<ServingCertificate> {
  return signServingCertificate(await createCertificateAuthority(), names);
}

const files = { ca: 'ca.crt', cert: 'tls.crt', key: 'tls.key' } as const;

/** The certificate kept in `dir`, created there on first use. `created` says whether it is new. */
export async function servingCertificateIn(dir: string, names: string[]): Promise<ServingCertificate & { created: boolean }> {
  if (Object.values(files).every((f) => existsSync(join(dir, f)))) {
    const read = (f: string) => readFileSync(join(dir, f), 'utf8');
    return { ca: read(files.ca), cert: read(files.cert), key: read(files.key), created: false };
  }
  const created = await createServingCertificate(names);
  mkdirSync(dir, { recursive: true });
  for (const [field, file] of Object.entries(files)) writeFileSync(join(dir, file), created[field as keyof typeof files], { mode: 0o600 });
  return { ...created, created: true };
}
