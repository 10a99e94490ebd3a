// kill -9 of the server while it applies 200 DatabaseRoles: after a restart nothing acknowledged is lost,
// re-applying converges, and every role is in sync exactly once.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import test from 'ava';
import { guideManifests } from '../support/local.ts';
import { kubectl } from '../support/kubectl.ts';
import { sql } from '../support/postgres.ts';

const root = resolve(import.meta.dirname, '../..');
const dataDir = mkdtempSync(join(tmpdir(), 'crash-'));
chmodSync(dataDir, 0o755);
let server: ChildProcess | undefined;

/** `npm start` as a separate process (so it can be killed with -9), ready once it wrote its kubeconfig. */
async function start(): Promise<ChildProcess> {
  rmSync(join(dataDir, 'kubeconfig'), { force: true });
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'main.ts', '--data-dir', dataDir, '--port', '0', '--resync-interval', '1', '--log-level', 'warn'],
    { cwd: root, stdio: 'ignore' },
  );
  for (const deadline = Date.now() + 60_000; !existsSync(join(dataDir, 'kubeconfig')); await new Promise((r) => setTimeout(r, 200))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('the server did not start');
  }
  return child;
}

test.after.always(async () => {
  if (server && server.exitCode === null && server.signalCode === null) {
    const exited = new Promise((resolve) => server!.once('exit', resolve));
    server.kill('SIGINT');
    await exited;
  }
  rmSync(dataDir, { recursive: true, force: true });
});

// 200 roles applied one by one take well over a minute on a busy machine: kubectl gets five.
const run = (args: string[], input?: string) =>
  kubectl(join(dataDir, 'kubeconfig'), args, input, { KUBECACHEDIR: join(dataDir, 'kube-cache') }, 300_000);

function roles(count: number): string {
  return Array.from(
    { length: count },
    (_, i) => `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: crash-${i}, namespace: default}
spec: {roleName: crash_${i}, databaseClusterRef: {name: main-cluster}, permissions: [{database: my_app_db_production, schemas: [{name: public, tables: [{name: "*", privileges: [SELECT]}]}]}]}
`,
  ).join('---\n');
}

test('kill -9 while applying 200 DatabaseRoles: after a restart and a re-apply, all 200 are in sync, once each', async (t) => {
  t.timeout(600_000);
  server = await start();
  const dsn = readFileSync(join(dataDir, 'postgres.dsn'), 'utf8').trim();
  t.is((await run(['apply', '-f', '-'], guideManifests(dsn))).code, 0);
  const applying = run(['apply', '-f', '-'], roles(200));
  const created = async () =>
    (await sql<{ n: number }>(dsn, "SELECT count(*)::int AS n FROM pg_roles WHERE rolname LIKE 'crash\\_%'"))[0]!.n;
  for (const deadline = Date.now() + 60_000; (await created()) < 20 && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 50));
  server.kill('SIGKILL');
  const atKill = await created();
  t.true(atKill >= 20 && atKill < 200, `killed in the middle: ${atKill} of 200 roles created`);
  await applying;

  server = await start();
  const reapplied = await run(['apply', '-f', '-'], roles(200));
  t.is(reapplied.code, 0, reapplied.stderr);
  const list = JSON.parse((await run(['get', 'pgrole', '-o', 'json'])).stdout);
  const crash = list.items.filter((o: { metadata: { name: string } }) => o.metadata.name.startsWith('crash-'));
  t.is(crash.length, 200);
  const inSync = crash.filter(
    (o: { status?: { conditions?: { type: string; status: string }[] } }) =>
      o.status?.conditions?.find((c) => c.type === 'InSync')?.status === 'True',
  );
  t.is(inSync.length, 200, JSON.stringify(crash[0]?.status));
  const [counted] = await sql<{ n: number }>(dsn, "SELECT count(*)::int AS n FROM pg_roles WHERE rolname LIKE 'crash\\_%'");
  t.is(counted!.n, 200);
});
