// `npm run certificate -- --out DIR`: a private CA and a serving certificate for the server's Service, written
// as files and as the two manifests that install them: the serving-cert Secret, and the APIService whose
// caBundle lets kube-apiserver trust the server.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse, stringify } from 'yaml';
import { createCertificateAuthority, signServingCertificate, type CertificateAuthority } from '../apiserver/tls.ts';

const usage = `Usage: npm run certificate -- --out DIR [options]

Writes into DIR: ca.crt and ca.key (the CA, kept across runs), tls.crt and tls.key (the serving certificate,
made anew each run), serving-cert-secret.yaml (a kubernetes.io/tls Secret of them) and apiservice.yaml (the
APIService with its caBundle).

  --out DIR           where to write (required)
  --namespace NS      the server's namespace (default: postgres-apiserver)
  --service NAME      the server's Service (default: postgres-apiserver)
  --extra-san NAME    one more DNS name or IP address for the serving certificate (repeatable)
  --renew             make a new CA too (kube-apiserver then needs the new apiservice.yaml)
  --help              show this text`;

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    namespace: { type: 'string', default: 'postgres-apiserver' },
    service: { type: 'string', default: 'postgres-apiserver' },
    'extra-san': { type: 'string', multiple: true, default: [] },
    renew: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help || !values.out) {
  (values.help ? console.log : console.error)(usage);
  process.exit(values.help ? 0 : 2);
}
const { out: dir, namespace, service } = values;

function write(file: string, content: string, secret = false): void {
  writeFileSync(join(dir, file), content);
  // chmod as well: writeFileSync's mode applies only to a file it creates.
  chmodSync(join(dir, file), secret ? 0o600 : 0o644);
}

const base64 = (text: string) => Buffer.from(text).toString('base64');

/** The CA kept in DIR, or a new one. */
async function certificateAuthority(): Promise<CertificateAuthority & { kept: boolean }> {
  const [cert, key] = [join(dir, 'ca.crt'), join(dir, 'ca.key')];
  if (!values.renew && existsSync(cert)) {
    if (!existsSync(key)) throw new Error(`${cert} has no ca.key beside it: pass --renew to make a new CA`);
    return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8'), kept: true };
  }
  return { ...(await createCertificateAuthority()), kept: false };
}

mkdirSync(dir, { recursive: true });
const ca = await certificateAuthority();
// kube-apiserver dials <svc>.<ns>.svc; the other forms are for clients inside the cluster.
const names = [
  service,
  `${service}.${namespace}`,
  `${service}.${namespace}.svc`,
  `${service}.${namespace}.svc.cluster.local`,
  ...values['extra-san'],
];
const serving = await signServingCertificate(ca, names);

write('ca.crt', ca.cert);
write('ca.key', ca.key, true);
write('tls.crt', serving.cert);
write('tls.key', serving.key, true);
const secretName = `${service}-serving-cert`;
write(
  'serving-cert-secret.yaml',
  stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name: secretName, namespace, labels: { 'app.kubernetes.io/name': 'postgres-apiserver' } },
    data: { 'tls.crt': base64(serving.cert), 'tls.key': base64(serving.key), 'ca.crt': base64(ca.cert) },
  }),
  true,
);
// The APIService of the plain manifests, pointed at this Service and trusting this CA.
const apiService = parse(readFileSync(new URL('manifests/50-apiservice.yaml', import.meta.url), 'utf8'));
apiService.spec.service = { ...apiService.spec.service, name: service, namespace };
apiService.spec.caBundle = base64(ca.cert);
write('apiservice.yaml', stringify(apiService));

console.log(`${ca.kept ? 'Kept the CA' : 'Made a new CA'} and signed a serving certificate for ${names.join(', ')}.
Wrote ${dir}/: ca.crt, ca.key, tls.crt, tls.key, serving-cert-secret.yaml (Secret ${namespace}/${secretName}), apiservice.yaml

Install with the plain manifests (the APIService last, so that its caBundle is this CA's):
  kubectl apply -f apiservice/manifests/
  kubectl -n ${namespace} create secret generic postgres-apiserver-store --from-literal=dsn='postgres://USER:PASSWORD@HOST:5432/DATABASE'
  kubectl apply -f ${dir}/serving-cert-secret.yaml -f ${dir}/apiservice.yaml

or with Helm:
  kubectl create namespace ${namespace}
  kubectl -n ${namespace} create secret generic postgres-apiserver-store --from-literal=dsn='postgres://USER:PASSWORD@HOST:5432/DATABASE'
  kubectl apply -f ${dir}/serving-cert-secret.yaml
  helm upgrade --install postgres-apiserver apiservice/chart --namespace ${namespace} --set createNamespace=false --set-file caBundle=${dir}/ca.crt`);
