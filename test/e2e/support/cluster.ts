// The end-to-end setting. `npm run test:e2e` starts etcd, kube-apiserver and kube-controller-manager with its
// namespace, garbage collector and ClusterRole aggregation controllers (start-control-plane.sh: KUBECONFIG is its
// admin, CONTROL_PLANE_DIR its folder). Each test file installs the server as a user would (the certificate
// command, the chart's rendered objects), then runs it on the host in cluster mode with its ServiceAccount's
// token; the APIService reaches it through an ExternalName Service `localhost`. One PostgreSQL server holds the
// object store and is the managed target. More replicas may join on other ports (the APIService keeps reaching
// the first), sharing store and token. A file removes the APIService when it ends: an APIService whose server is
// gone leaves discovery partial, and then the namespace controller deletes no namespace's content.
import { imageEntrypoint } from '../../support/entrypoint.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { kubectl, type KubectlResult } from '../../support/kubectl.ts';
import { eventually } from '../../support/local.ts';
import { sql, startTestServer, type TestServer } from '../../support/postgres.ts';

export const root = resolve(import.meta.dirname, '../../..');
export const bin = join(root, '.cache/control-plane/bin');
export const namespace = 'postgres-apiserver';
export const apiService = 'v1alpha1.postgres.databases.dinhloc.dev';

export interface ControlPlane {
  /** The admin's kubeconfig (contexts e2e, alice, viewer, tenant). */
  kubeconfig: string;
  dir: string;
  /** https://127.0.0.1:<port> of kube-apiserver. */
  server: string;
}

/** The control plane `npm run test:e2e` started; without it the suite fails, it never skips. */
export function controlPlane(): ControlPlane {
  const { KUBECONFIG: kubeconfig, CONTROL_PLANE_DIR: dir } = process.env;
  if (!kubeconfig || !dir || !existsSync(join(dir, 'ca.crt'))) {
    throw new Error('no control plane: run the end-to-end suite with `npm run test:e2e`, which builds and starts kube-apiserver and etcd');
  }
  const server = /server: "?(https:\/\/[^"\s}]+)/.exec(readFileSync(kubeconfig, 'utf8'))?.[1];
  if (!server) throw new Error(`${kubeconfig} names no server`);
  return { kubeconfig, dir, server };
}

export function asAdmin(args: string[], input?: string, context = 'e2e'): Promise<KubectlResult> {
  const { kubeconfig, dir } = controlPlane();
  return kubectl(kubeconfig, ['--context', context, ...args], input, { KUBECACHEDIR: join(dir, `kube-cache-${context}`) });
}

/** Runs kubectl and throws with its stderr when it fails: for the arranging steps of a test. */
export async function mustKubectl(args: string[], input?: string, context = 'e2e'): Promise<string> {
  const result = await asAdmin(args, input, context);
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** Runs a command to completion; throws with its output when it fails. */
export function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolvePromise(out) : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${err}`)),
    );
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

export function helm(): string {
  const path = join(bin, 'helm');
  if (!existsSync(path)) throw new Error(`${path} is missing: run test/e2e/build-control-plane.sh (npm run test:e2e does)`);
  return path;
}

/** The chart rendered for a server on the host: ExternalName localhost, the APIService on `port`. */
export function renderChart(port: number, caFile: string): Promise<string> {
  return run(helm(), [
    'template',
    'postgres-apiserver',
    'apiservice/chart',
    '--namespace',
    namespace,
    '--set',
    'service.externalName=localhost',
    '--set',
    `apiService.port=${port}`,
    '--set-file',
    `caBundle=${caFile}`,
  ]);
}

/** One server process in cluster mode. */
export interface Replica {
  port: number;
  /** Its process id (/proc/<pid>/status). */
  pid: number;
  /** Its log, for failure messages and to tell what this replica did. */
  logFile: string;
  /** Sends the signal (SIGTERM unless told) unless it has exited already; resolves once it has. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** The first replica, which the APIService reaches, and the means to start more. */
export interface InstalledServer extends Replica {
  postgres: TestServer;
  /** Starts another replica on a free port with the same store and ServiceAccount; resolves once it is ready. */
  startReplica(): Promise<Replica>;
  /** Removes the APIService, then stops every replica, then PostgreSQL. */
  stop(): Promise<void>;
}

async function storeDatabase(postgres: TestServer): Promise<string> {
  await sql(postgres.superuserDsn, 'CREATE DATABASE apiserver_store');
  const url = new URL(postgres.superuserDsn);
  url.pathname = '/apiserver_store';
  return url.toString();
}

/** A kubeconfig holding the ServiceAccount's token: the server acts with exactly the RBAC the chart grants it. */
async function serviceAccountKubeconfig(cp: ControlPlane, file: string): Promise<string> {
  const token = (await mustKubectl(['create', 'token', 'postgres-apiserver', '-n', namespace, '--duration', '2h'])).trim();
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters: [{name: e2e, cluster: {server: "${cp.server}", certificate-authority: "${join(cp.dir, 'ca.crt')}"}}]
users: [{name: postgres-apiserver, user: {token: "${token}"}}]
contexts: [{name: e2e, context: {cluster: e2e, user: postgres-apiserver}}]
current-context: e2e
`,
    { mode: 0o600 },
  );
  return file;
}

/** How the server's process is run: from the sources (the suite) or as the image runs it. */
export interface ServerOptions {
  /**
   * `sources` (default): `node --import tsx main.ts`; `dist`: the compiled entry point as the image's ENTRYPOINT runs
   * it (the Dockerfile's ENTRYPOINT; `npm run build` first).
   */
  entry?: 'sources' | 'dist';
  /** Node's own options before the entry point (`--cpu-prof`, say). */
  nodeOptions?: string[];
  /** `--resync-interval` in seconds (default 1: the suite waits for passes). */
  resyncIntervalSeconds?: number;
  /** `--log-level` (default debug). */
  logLevel?: string;
}

const entryArgs = { sources: ['--import', 'tsx', 'main.ts'], dist: imageEntrypoint() };

function startProcess(args: string[], logFile: string, options: ServerOptions = {}): ChildProcess {
  const child = spawn(process.execPath, [...(options.nodeOptions ?? []), ...entryArgs[options.entry ?? 'sources'], ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, KUBECONFIG: '' },
  });
  const log = createWriteStream(logFile);
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  return child;
}

function startReplicaProcess(port: number, args: string[], logFile: string, options: ServerOptions = {}): Replica {
  const child = startProcess(['--mode', 'cluster', '--port', String(port), ...args], logFile, options);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    port,
    pid: child.pid!,
    logFile,
    kill: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** Installs and starts the server; resolves once the aggregator reports the APIService Available. */
export async function installServer(options: ServerOptions = {}): Promise<InstalledServer> {
  const cp = controlPlane();
  const work = join(cp.dir, `server-${process.pid}`);
  mkdirSync(work, { recursive: true });
  const postgres = await startTestServer('pg17');
  const port = await freePort();
  const certs = join(cp.dir, 'serving-cert');
  await run(process.execPath, [
    '--import',
    'tsx',
    'apiservice/certificate.ts',
    '--out',
    certs,
    '--namespace',
    namespace,
    '--service',
    'postgres-apiserver',
  ]);
  await mustKubectl(['apply', '-f', '-'], await renderChart(port, join(certs, 'ca.crt')));
  const storeDsn = await storeDatabase(postgres);
  await mustKubectl(
    ['apply', '-f', '-'],
    await mustKubectl([
      'create',
      'secret',
      'generic',
      'postgres-apiserver-store',
      '-n',
      namespace,
      `--from-literal=dsn=${storeDsn}`,
      '--dry-run=client',
      '-o',
      'yaml',
    ]),
  );
  const args = [
    '--bind-address',
    '127.0.0.1',
    '--tls-cert-file',
    join(certs, 'tls.crt'),
    '--tls-private-key-file',
    join(certs, 'tls.key'),
    '--store-dsn',
    storeDsn,
    '--kubeconfig',
    await serviceAccountKubeconfig(cp, join(work, 'kubeconfig')),
    '--resync-interval',
    String(options.resyncIntervalSeconds ?? 1),
    '--log-level',
    options.logLevel ?? 'debug',
  ];
  const replicas = [startReplicaProcess(port, args, join(work, 'server.log'), options)];
  const first = replicas[0]!;
  const stop = async () => {
    const removed = await asAdmin(['delete', 'apiservice', apiService, '--ignore-not-found']);
    await Promise.all(replicas.map((r) => r.kill()));
    await postgres.stop();
    if (removed.code !== 0) throw new Error(`the APIService could not be removed: ${removed.stderr}`);
  };
  const startReplica = async () => {
    const replica = startReplicaProcess(await freePort(), args, join(work, `replica-${replicas.length + 1}.log`), options);
    replicas.push(replica);
    if (!(await eventually(async () => (await direct(replica, '/readyz').catch(() => undefined))?.status === 200, 60_000))) {
      throw new Error(`replica on port ${replica.port} not ready within 60 s:\n${readFileSync(replica.logFile, 'utf8').slice(-4000)}`);
    }
    return replica;
  };
  const available = await asAdmin(['wait', '--for=condition=Available', `apiservice/${apiService}`, '--timeout=90s']);
  if (available.code !== 0) {
    await stop();
    throw new Error(
      `the APIService did not become Available: ${available.stderr}\nserver log:\n${readFileSync(first.logFile, 'utf8').slice(-4000)}`,
    );
  }
  // The aggregator merges our OpenAPI v3 into its own a few seconds after the APIService is Available.
  if (
    !(await eventually(
      async () => (await asAdmin(['get', '--raw', '/openapi/v3'])).stdout.includes('apis/postgres.databases.dinhloc.dev/v1alpha1'),
      60_000,
    ))
  ) {
    await stop();
    throw new Error('kube-apiserver did not serve our OpenAPI v3 within 60 s');
  }
  return { ...first, postgres, startReplica, stop };
}

export interface DirectRequest {
  method?: string;
  /** Header lines in order; a name may repeat (X-Remote-Group). */
  headers?: [string, string][];
  /** PEM client certificate and key. */
  cert?: string;
  key?: string;
  body?: string;
}

/** A request straight to the server's port, past kube-apiserver, as the aggregator or an intruder would send it. */
export function direct(
  server: Pick<Replica, 'port'>,
  path: string,
  options: DirectRequest = {},
): Promise<{ status: number; text: () => string; json: () => { reason?: string; message?: string } }> {
  const ca = readFileSync(join(controlPlane().dir, 'serving-cert', 'ca.crt'), 'utf8');
  return new Promise((resolvePromise, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: server.port,
        path,
        method: options.method ?? 'GET',
        ca,
        servername: `postgres-apiserver.${namespace}.svc`,
        headers: [['Host', `127.0.0.1:${server.port}`], ...(options.headers ?? [])].flat(),
        ...(options.cert ? { cert: options.cert, key: options.key } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = () => Buffer.concat(chunks).toString('utf8');
          resolvePromise({ status: res.statusCode!, text, json: () => JSON.parse(text()) });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A node of the garbage collector's dependency graph, as its debug handler prints it. */
export interface GraphNode {
  uid: string;
  kind: string;
  name: string;
  namespace: string;
  /** Known only from a dependent's ownerReference, not (yet) observed through the GC's informer on its resource. */
  virtual: boolean;
  beingDeleted: boolean;
}

/**
 * The garbage collector's graph around `uid` (kube-controller-manager's /debug/controllers/garbage-collector-
 * controller/graph?uid=…, served to the admin's client cert): the nodes, and the edges dependent → owner.
 */
export function garbageCollectorGraph(uid: string): Promise<{ nodes: GraphNode[]; edges: [string, string][] }> {
  const { dir } = controlPlane();
  const base = process.env.CONTROLLER_MANAGER;
  if (!base) throw new Error('CONTROLLER_MANAGER is not set: run the suite with `npm run test:e2e`');
  const url = new URL(`/debug/controllers/garbage-collector-controller/graph?uid=${encodeURIComponent(uid)}`, base);
  return new Promise((resolvePromise, reject) => {
    const req = httpsRequest(
      url,
      {
        ca: readFileSync(join(dir, 'ca.crt')),
        cert: readFileSync(join(dir, 'admin.crt')),
        key: readFileSync(join(dir, 'admin.key')),
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`GET ${url}: HTTP ${res.statusCode}: ${text}`));
          const nodes = [...text.matchAll(/^ {2}"[^"]*" \[\n([\s\S]*?)^ {2}\];$/gm)].map(([, body]) => {
            const attributes = new Map([...body!.matchAll(/^ {4}(\w+)="((?:[^"\\]|\\.)*)"$/gm)].map(([, key, value]) => [key!, value!]));
            return {
              uid: attributes.get('uid') ?? '',
              kind: attributes.get('kind') ?? '',
              name: attributes.get('name') ?? '',
              namespace: attributes.get('namespace') ?? '',
              virtual: attributes.get('virtual') === 'true',
              beingDeleted: attributes.get('beingDeleted') === 'true',
            };
          });
          const edges = [...text.matchAll(/^ {2}"([^"]+)" -> "([^"]+)";$/gm)].map(([, from, to]) => [from!, to!] as [string, string]);
          resolvePromise({ nodes, edges });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** kube-controller-manager's log so far (start-control-plane.sh runs it at -v=2). */
export function controllerManagerLog(): string {
  return readFileSync(join(controlPlane().dir, 'kube-controller-manager.log'), 'utf8');
}
