// What the API benchmarks share: local mode started in-process for them, POSTs over kept-alive connections,
// kubectl against it, the guide's objects, and how timings are printed.
import { imageEntrypoint } from '../test/support/entrypoint.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { parse as parseYaml } from 'yaml';
import { startLocalMode, type LocalMode } from '../modes/local.ts';
import type { DatabaseRoleSpec } from '../openapi/databaserole.ts';
import { guideManifests } from '../test/support/guide.ts';
import { sql } from '../test/support/postgres.ts';

export const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
export const all = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join(', ');

export interface Api {
  /** The created object. */
  post(path: string, body: object): Promise<{ metadata: { resourceVersion: string } }>;
  /** Any request: its status and body text. */
  call(method: string, path: string, body?: object): Promise<{ status: number; text: string }>;
  close(): void;
}

/**
 * Requests with the server, CA and credentials (a token, or a client certificate and key) of the kubeconfig's first
 * cluster and user, over kept-alive connections (`sockets` at most).
 */
export function apiOf(kubeconfigPath: string, sockets: number): Api {
  const config = parseYaml(readFileSync(kubeconfigPath, 'utf8')) as {
    clusters: { cluster: { server: string; 'certificate-authority-data'?: string; 'certificate-authority'?: string } }[];
    users: { user: { token?: string; 'client-certificate'?: string; 'client-key'?: string } }[];
  };
  const cluster = config.clusters[0]!.cluster;
  const { server } = cluster;
  const ca = cluster['certificate-authority-data']
    ? Buffer.from(cluster['certificate-authority-data'], 'base64').toString('utf8')
    : readFileSync(cluster['certificate-authority']!, 'utf8');
  const user = config.users[0]!.user;
  const token = user.token;
  const clientCert = user['client-certificate']
    ? { cert: readFileSync(user['client-certificate']), key: readFileSync(user['client-key']!) }
    : {};
  const agent = new Agent({ keepAlive: true, maxSockets: sockets, ca, ...clientCert });
  const call = (method: string, path: string, body?: object) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        `${server}${path}`,
        {
          method,
          agent,
          headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString('utf8') }));
        },
      );
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  const post = async (path: string, body: object) => {
    const { status, text } = await call('POST', path, body);
    if (status !== 201) throw new Error(`POST ${path}: ${status} ${text.slice(0, 500)}`);
    return JSON.parse(text) as { metadata: { resourceVersion: string } };
  };
  return { post, call, close: () => agent.destroy() };
}

/** The sum of a /metrics series' values whose labels include all of `labels`. */
export function metricSum(text: string, name: string, labels: string[]): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) && labels.every((label) => line.includes(label)))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/** Runs `work` for 0..n-1, `concurrency` at a time. */
export async function inParallel(n: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await work(next++);
    }),
  );
}

/** The guide's Steps 1–3 (connection Secret, DatabaseCluster, Database); its one DatabaseRole and password Secret are left out. */
export function guideCluster(dsn: string): string {
  return guideManifests(dsn)
    .split(/^---$/m)
    .filter((doc) => !/^kind: DatabaseRole$/m.test(doc) && !/name: app-user-password/.test(doc))
    .join('---');
}

export type LocalServer = LocalMode & { dataDir: string };

/**
 * Local mode in-process, as test/support/local.ts starts it, but with the reconciler's resync an hour apart:
 * a pass reads every object with its live status, so at a short interval it competes with what is timed.
 */
export async function startLocal(): Promise<LocalServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-'));
  chmodSync(dataDir, 0o755); // as root, PostgreSQL runs as nobody, who must reach the folder inside
  const local = await startLocalMode({ dataDir, port: 0, resyncIntervalMs: 3_600_000, log: pino({ level: 'silent' }) });
  return {
    ...local,
    dataDir,
    stop: async () => {
      await local.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A local-mode server in a process of its own: what the benchmarks need of it. */
export interface ServerProcess {
  local: Pick<LocalServer, 'dataDir' | 'port' | 'kubeconfig' | 'postgresDsn'>;
  child: ChildProcess;
  /** SIGTERM; resolves once it has exited and its folder is removed. */
  stop(): Promise<void>;
}

/**
 * The server as `npm start` runs it, in a process of its own (its RSS is its own), on a free port: from the sources
 * through tsx (default), or `dist`: the compiled entry point as `npm start` and the image run it
 * (the Dockerfile's ENTRYPOINT; `npm run build` first). `args`: more of main.ts's options.
 */
export async function startServerProcess(options: { entry?: 'sources' | 'dist'; args?: string[] } = {}): Promise<ServerProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-server-'));
  chmodSync(dataDir, 0o755);
  const entry = options.entry === 'dist' ? imageEntrypoint() : ['--import', 'tsx', 'main.ts'];
  const args = ['--data-dir', dataDir, '--port', '0', '--log-level', 'warn', ...(options.args ?? [])];
  const child = spawn(process.execPath, [...entry, ...args], {
    cwd: resolve(import.meta.dirname, '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((done, fail) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /serving on https:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (match) done(Number(match[1]));
    });
    child.once('exit', (code) => fail(new Error(`the server exited with ${code} before serving`)));
  });
  const stop = async () => {
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  };
  const postgresDsn = readFileSync(join(dataDir, 'postgres.dsn'), 'utf8').trim();
  return { local: { dataDir, port, kubeconfig: join(dataDir, 'kubeconfig'), postgresDsn }, child, stop };
}

/** A process's resident memory now (VmRSS) and at its peak (VmHWM), in MiB, from /proc/<pid>/status. */
export function memoryMiB(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kB = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) / 1024;
  return { rss: kB('VmRSS'), hwm: kB('VmHWM') };
}

export const rssMiB = (pid: number) => memoryMiB(pid).rss;

/** CPU time a process has used so far (user + system), in ms, from /proc (Linux). */
export function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

const suffix = (i: number) => String(i + 1).padStart(4, '0');

/** Where a benchmark role lives: its namespace, and the database its permissions name. */
export interface RolePlace {
  namespace: string;
  database: string;
}

/** The guide's: namespace default, its Database's my_app_db_production. */
export const guidePlace: RolePlace = { namespace: 'default', database: 'my_app_db_production' };

/** The password Secret of the i-th benchmark role. */
export function passwordSecret(i: number, password: string, namespace = guidePlace.namespace): object {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `bench-role-${suffix(i)}-password`, namespace },
    type: 'Opaque',
    stringData: { password },
  };
}

/** The i-th benchmark DatabaseRole: the guide's, with its own role name and password Secret. */
export function benchRole(
  i: number,
  place = guidePlace,
): {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string };
  spec: DatabaseRoleSpec;
} {
  return {
    apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
    kind: 'DatabaseRole',
    metadata: { name: `bench-role-${suffix(i)}`, namespace: place.namespace },
    spec: {
      roleName: `bench_role_${suffix(i)}`,
      password: { name: `bench-role-${suffix(i)}-password`, key: 'password' },
      databaseClusterRef: { name: 'main-cluster' },
      permissions: [
        {
          database: place.database,
          schemas: [
            {
              name: 'public',
              privileges: ['USAGE', 'CREATE'],
              tables: [{ name: '*', privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'] }],
            },
          ],
        },
      ],
    },
  };
}

/** kubectl with the server's kubeconfig and discovery cache; its output whole (`-o json` of 1,000 roles is megabytes). */
export async function kubectl(local: Pick<LocalServer, 'kubeconfig' | 'dataDir'>, args: string[], input?: string): Promise<string> {
  const child = spawn('kubectl', ['--kubeconfig', local.kubeconfig, ...args], {
    env: { ...process.env, KUBECACHEDIR: join(local.dataDir, 'kube-cache') },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end(input);
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0)
    throw new Error(`kubectl ${args.join(' ')} exited with ${code}: ${Buffer.concat(stderr).toString('utf8').slice(0, 1000)}`);
  return Buffer.concat(stdout).toString('utf8');
}

export const psqlPath = process.env.PSQL ?? '/usr/bin/psql';

/** The DSN, in another database. */
export function inDatabase(dsn: string, database: string): string {
  const url = new URL(dsn);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

/** Wall clock of one psql process, from spawn to exit. */
export async function timePsql(dsn: string, file: string): Promise<number> {
  const started = performance.now();
  const child = spawn(psqlPath, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', dsn, '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  const elapsed = performance.now() - started;
  if (code !== 0) throw new Error(`psql exited with code ${code}: ${stderr.slice(0, 2000)}`);
  return elapsed;
}

/**
 * Of `roles`, those that do not exist or lack the guide's privileges in `database`: CONNECT on it, granted to the
 * role itself (not only through PUBLIC), SELECT, INSERT, UPDATE and DELETE on every table of `public`, and USAGE and
 * CREATE on the schema. One query, whatever their number.
 */
export async function ungranted(dsn: string, database: string, roles: string[]): Promise<string[]> {
  const rows = await sql<{ role: string }>(
    dsn,
    `SELECT r AS role FROM unnest($1::text[]) AS r
      WHERE CASE WHEN NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN true
            ELSE NOT EXISTS (SELECT FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = current_database()
                               AND a.grantee = to_regrole(quote_ident(r)) AND a.privilege_type = 'CONNECT')
              OR NOT has_schema_privilege(r, 'public', 'USAGE,CREATE')
              OR EXISTS (SELECT FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
                           AND NOT has_table_privilege(r, c.oid, 'SELECT,INSERT,UPDATE,DELETE')) END`,
    { database, params: [roles] },
  );
  return rows.map((row) => row.role);
}

/** Tables t1..t`count` in `database` (`public`), for the roles' grants on all tables to cover. */
export async function createTables(dsn: string, database: string, count: number): Promise<void> {
  await sql(dsn, Array.from({ length: count }, (_, i) => `CREATE TABLE t${i + 1} (id int);`).join('\n'), { database });
}
