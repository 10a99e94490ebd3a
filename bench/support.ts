// What the API benchmarks share: local mode started in-process for them, POSTs over kept-alive connections,
// kubectl against it, the guide's objects, and how timings are printed.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { parse as parseYaml } from 'yaml';
import { startLocalMode, type LocalMode } from '../modes/local.ts';
import type { DatabaseRoleSpec } from '../openapi/databaserole.ts';
import { guideManifests } from '../test/support/guide.ts';

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

/** Requests with the server, CA and token of the kubeconfig, over kept-alive connections (`sockets` at most). */
export function apiOf(kubeconfigPath: string, sockets: number): Api {
  const config = parseYaml(readFileSync(kubeconfigPath, 'utf8')) as {
    clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
    users: { user: { token: string } }[];
  };
  const { server, 'certificate-authority-data': caData } = config.clusters[0]!.cluster;
  const ca = Buffer.from(caData, 'base64').toString('utf8');
  const token = config.users[0]!.user.token;
  const agent = new Agent({ keepAlive: true, maxSockets: sockets, ca });
  const call = (method: string, path: string, body?: object) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        `${server}${path}`,
        { method, agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } },
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

const suffix = (i: number) => String(i + 1).padStart(4, '0');

/** The password Secret of the i-th benchmark role. */
export function passwordSecret(i: number, password: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `bench-role-${suffix(i)}-password`, namespace: 'default' },
    type: 'Opaque',
    stringData: { password },
  };
}

/** The i-th benchmark DatabaseRole: the guide's, with its own role name and password Secret. */
export function benchRole(i: number): {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string };
  spec: DatabaseRoleSpec;
} {
  return {
    apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
    kind: 'DatabaseRole',
    metadata: { name: `bench-role-${suffix(i)}`, namespace: 'default' },
    spec: {
      roleName: `bench_role_${suffix(i)}`,
      password: { name: `bench-role-${suffix(i)}-password`, key: 'password' },
      databaseClusterRef: { name: 'main-cluster' },
      permissions: [
        {
          database: 'my_app_db_production',
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
export async function kubectl(local: LocalServer, args: string[], input?: string): Promise<string> {
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
