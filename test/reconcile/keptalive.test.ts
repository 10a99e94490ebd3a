// Calls to kube-apiserver through the API clients share kept-alive TLS connections: client-node alone opens one
// per request (a handshake each, on both sides). Against a real HTTPS server counting its TLS connections.
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { createServingCertificate } from '../../apiserver/tls.ts';
import { KeptAliveKubeConfig } from '../../storage/kubernetes/keptalive.ts';

async function namespaceServer(t: import('ava').ExecutionContext) {
  const serving = await createServingCertificate(['127.0.0.1']);
  let connections = 0;
  const server = https.createServer({ cert: serving.cert, key: serving.key }, (_request, response) => {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } }));
  });
  server.on('secureConnection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const configure = (config: KubeConfig) => {
    config.loadFromOptions({
      clusters: [
        {
          name: 'c',
          server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
          caData: Buffer.from(serving.ca).toString('base64'),
        },
      ],
      users: [{ name: 'u', token: 'a-token' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    return config.makeApiClient(CoreV1Api);
  };
  return { configure, connections: () => connections };
}

test('five calls through a KeptAliveKubeConfig use one TLS connection, where client-node alone opens five', async (t) => {
  const server = await namespaceServer(t);
  const plain = server.configure(new KubeConfig());
  for (let i = 0; i < 5; i++) t.is((await plain.readNamespace({ name: 'default' })).metadata?.name, 'default');
  t.is(server.connections(), 5, 'client-node alone: a connection a call');

  const kept = server.configure(new KeptAliveKubeConfig());
  for (let i = 0; i < 5; i++) t.is((await kept.readNamespace({ name: 'default' })).metadata?.name, 'default');
  t.is(server.connections(), 6, 'kept alive: one for the five');
});
