// Certificates for authentication tests: CAs, intermediates and client certificates with the validity and key
// usages a test needs, as PEM (what a TLS client presents) and as node:crypto X509Certificate (what the server sees).
import { KeyObject, webcrypto, X509Certificate } from 'node:crypto';
// @peculiar/x509 resolves its parts through tsyringe, which needs the Reflect metadata API loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

export const { KeyUsageFlags } = x509;

export interface Issued {
  /** PEM of the certificate alone. */
  cert: string;
  /** PEM of the private key (PKCS #8). */
  key: string;
  x509: X509Certificate;
  keys: CryptoKeyPair;
  subject: string;
}

export interface IssueOptions {
  /** Signs the certificate; self-signed without one. */
  issuer?: Issued;
  ca?: boolean;
  /** KeyUsage flags; by default keyCertSign and cRLSign for a CA, digitalSignature otherwise. */
  keyUsages?: number;
  /** Extended key usages; the extension is left out when undefined. */
  usages?: x509.ExtendedKeyUsageType[];
  notBefore?: Date;
  notAfter?: Date;
  /** Reuse a key pair (look-alike certificates). */
  keys?: CryptoKeyPair;
}

const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const hour = 3600 * 1000;

export async function issue(subject: string, options: IssueOptions = {}): Promise<Issued> {
  x509.cryptoProvider.set(webcrypto as Crypto);
  const keys = options.keys ?? ((await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair);
  const signer = options.issuer?.keys ?? keys;
  const extensions: x509.Extension[] = [new x509.BasicConstraintsExtension(options.ca ?? false, undefined, true)];
  const caUsages = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;
  extensions.push(new x509.KeyUsagesExtension(options.keyUsages ?? (options.ca ? caUsages : x509.KeyUsageFlags.digitalSignature), true));
  if (options.usages) extensions.push(new x509.ExtendedKeyUsageExtension(options.usages));
  extensions.push(await x509.AuthorityKeyIdentifierExtension.create(signer.publicKey));
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(keys.publicKey));
  const cert = await x509.X509CertificateGenerator.create({
    subject,
    issuer: options.issuer?.subject ?? subject,
    notBefore: options.notBefore ?? new Date(Date.now() - hour),
    notAfter: options.notAfter ?? new Date(Date.now() + 24 * hour),
    signingAlgorithm: algorithm,
    publicKey: keys.publicKey,
    signingKey: signer.privateKey,
    extensions,
  });
  const pem = cert.toString('pem');
  const key = KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString();
  return { cert: pem, key, x509: new X509Certificate(pem), keys, subject };
}

export function certificateAuthority(name: string, options: Omit<IssueOptions, 'ca'> = {}): Promise<Issued> {
  return issue(`CN=${name}`, { ...options, ca: true });
}

/** A client certificate for `subject` (`CN=jane, O=dev`), with ExtKeyUsage ClientAuth unless told otherwise. */
export function clientCertificate(subject: string, issuer: Issued, options: Omit<IssueOptions, 'issuer' | 'ca'> = {}): Promise<Issued> {
  return issue(subject, { usages: [x509.ExtendedKeyUsage.clientAuth], ...options, issuer });
}
