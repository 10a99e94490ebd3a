// Faults of a managed PostgreSQL server, one after the other, on a target of its own beside the guide's cluster:
// stopped and started again, frozen (SIGSTOP: it accepts connections and answers nothing), every connection
// taken from outside, our connections terminated. Each time: the process stays up, every request answers within
// the deadline with the right code, the other cluster is untouched, and once the fault is gone the objects
// recover and nothing asked for is lost.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../storage/embedded-postgres.ts';
import type { Response } from '../support/http.ts';
import { eventually, extraCluster, startSharedLocal, type LocalServer } from '../support/local.ts';
import { sql, unique } from '../support/postgres.ts';
import { rawClient, type RawRequest } from '../support/rawclient.ts';

const roles = '/apis/postgres.databases.dinhloc.dev/v1alpha1/namespaces/default/databaseroles';
/** The request deadline (apiserver/deadline.ts), with room for a busy machine. */
const deadlineMs = 60_000 + 10_000;

let local: LocalServer;
let request: RawRequest;
let target: EmbeddedPostgres;
let targetDir: string;

const start = (port?: number) =>
  startEmbeddedPostgres({ major: 17, dir: targetDir, settings: { max_connections: '25' }, ...(port ? { port } : {}) });

function role(name: string, cluster = 'target') {
  return {
    apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
    kind: 'DatabaseRole',
    metadata: { name, namespace: 'default' },
    spec: { roleName: name.replaceAll('-', '_'), databaseClusterRef: { name: cluster } },
  };
}

interface Ready {
  status: string;
  reason: string;
  message: string;
}

/** A request that must answer within the deadline; its answer and how long it took. */
async function answered(path: string, method = 'GET', body?: unknown): Promise<{ res: Response; ms: number }> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${method} ${path} outlived the deadline`)), deadlineMs)),
  );
  try {
    const res = await Promise.race([request(path, method, body), late]);
    return { res, ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

const readyOf = (res: Response): Ready =>
  (res.json() as { status: { conditions: (Ready & { type: string })[] } }).status.conditions.find((c) => c.type === 'Ready')!;

const roleExists = async (name: string) =>
  (await sql(target.dsn, 'SELECT 1 FROM pg_roles WHERE rolname = $1', { params: [name.replaceAll('-', '_')] })).length === 1;

async function readyAgain(name: string): Promise<boolean> {
  return eventually(async () => {
    const res = await request(`${roles}/${name}`);
    return res.status === 200 && readyOf(res).status === 'True';
  }, 60_000);
}

/** The guide's role, on the other cluster: answered at once and Ready whatever the target does. */
async function guideUntouched(t: { is(a: unknown, b: unknown, m?: string): void; true(a: boolean, m?: string): void }): Promise<void> {
  const { res, ms } = await answered(`${roles}/app-user`);
  t.is(res.status, 200);
  t.is(readyOf(res).status, 'True', 'the guide’s role is on another cluster');
  t.true(ms < 20_000, `the other cluster's role took ${ms} ms`);
}

test.before(async () => {
  local = await startSharedLocal();
  request = rawClient(local.kubeconfig);
  targetDir = mkdtempSync(join(tmpdir(), 'fault-target-'));
  target = await start();
  const applied = await local.kubectl(['apply', '-f', '-'], extraCluster('target', target.dsn));
  if (applied.code !== 0) throw new Error(applied.stderr);
  const created = await request(roles, 'POST', role('steady'));
  if (created.status !== 201) throw new Error(created.text);
  if (!(await readyAgain('steady'))) throw new Error('the role on the target never became Ready');
});

test.after.always(async () => {
  await local?.stop();
  await target?.stop();
  if (targetDir) rmSync(targetDir, { recursive: true, force: true });
});

test.serial('the target stopped: its objects say ConnectionRefused, a create is kept; started again, all is applied', async (t) => {
  await target.stop();
  const { res } = await answered(`${roles}/steady`);
  t.is(res.status, 200);
  t.like(readyOf(res), { status: 'False', reason: 'ConnectionRefused' });
  const created = await answered(roles, 'POST', role('while-stopped'));
  t.is(created.res.status, 201, created.res.text);
  t.regex(String(created.res.headers.warning), /ECONNREFUSED/);
  await guideUntouched(t);
  t.is((await request('/livez')).status, 200);

  target = await start(target.port);
  const restarted = Date.now();
  t.true(await readyAgain('steady'));
  t.true(await readyAgain('while-stopped'), 'the create made while the server was down is applied');
  t.log(`recovered ${Date.now() - restarted} ms after the server was back`);
  t.true(await roleExists('while-stopped'));
});

test.serial('the target frozen: its requests answer within the deadline with reason Timeout; thawed, all is applied', async (t) => {
  const pids = [
    String(target.process.pid),
    ...execFileSync('pgrep', ['-P', String(target.process.pid)], { encoding: 'utf8' })
      .trim()
      .split('\n'),
  ];
  execFileSync('kill', ['-STOP', ...pids]);
  // Some children may have gone meanwhile: kill names those it cannot reach and goes on.
  const thaw = () => spawnSync('kill', ['-CONT', ...pids]);
  t.teardown(thaw);
  try {
    const { res, ms } = await answered(`${roles}/steady`);
    t.is(res.status, 200);
    t.like(readyOf(res), { status: 'False', reason: 'Timeout' });
    t.log(`a read of the frozen target's role answered in ${ms} ms`);
    const created = await answered(roles, 'POST', role('while-frozen'));
    t.is(created.res.status, 201, created.res.text);
    t.log(`a create on the frozen target answered in ${created.ms} ms`);
    await guideUntouched(t);
    const listed = await answered(roles);
    t.is(listed.res.status, 200);
    const items = (listed.res.json() as { items: { metadata: { name: string }; status?: { conditions?: Ready[] } }[] }).items;
    t.deepEqual(
      items.map((o) => o.metadata.name).filter((name) => ['app-user', 'steady'].includes(name)),
      ['app-user', 'steady'],
    );
    // The frozen cluster's objects come with their stored status and a Warning naming it, or, when its read has
    // already failed by then, with reason Timeout; the other cluster's are live.
    const steady = items.find((o) => o.metadata.name === 'steady')!;
    const warned = /DatabaseCluster \\"target\\" did not answer within 3s/.test(String(listed.res.headers.warning));
    t.true(warned || (steady.status?.conditions ?? []).some((c) => c.reason === 'Timeout'), listed.res.text.slice(0, 2000));
    t.log(`a list across both clusters answered in ${listed.ms} ms`);
  } finally {
    thaw();
  }
  const thawed = Date.now();
  t.true(await readyAgain('steady'));
  t.true(await readyAgain('while-frozen'));
  t.log(`recovered ${Date.now() - thawed} ms after the thaw`);
  t.true(await roleExists('while-frozen'));
});

test.serial('every connection of the target taken from outside: reason Unavailable; given back, all is applied', async (t) => {
  const hogs: pg.Client[] = [];
  const fill = async () => {
    for (;;) {
      const client = new pg.Client({ connectionString: target.dsn });
      try {
        await client.connect();
        hogs.push(client);
      } catch {
        return;
      }
    }
  };
  const ours = `application_name LIKE 'postgres-apiserver%'`;
  try {
    // Every slot taken, ours closed from the server's side, and the slots they freed taken too, until none is ours.
    await fill();
    t.true(
      await eventually(async () => {
        const { rows } = await hogs[0]!.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE ${ours}`);
        await fill();
        return rows.length === 0;
      }),
      'our connections kept coming back',
    );
    const { res } = await answered(`${roles}/steady`);
    t.is(res.status, 200);
    t.like(readyOf(res), { status: 'False', reason: 'Unavailable' });
    t.regex(readyOf(res).message, /too many clients|remaining connection slots/);
    const created = await answered(roles, 'POST', role('while-full'));
    t.is(created.res.status, 201, created.res.text);
    await guideUntouched(t);
  } finally {
    await Promise.all(hogs.map((client) => client.end()));
  }
  const freed = Date.now();
  t.true(await readyAgain('steady'));
  t.true(await readyAgain('while-full'));
  t.log(`recovered ${Date.now() - freed} ms after the connections were given back`);
  t.true(await roleExists('while-full'));
});

test.serial('our connections terminated by pg_terminate_backend: the next requests are served, and a create is applied', async (t) => {
  await sql(
    target.dsn,
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'postgres-apiserver%' AND pid <> pg_backend_pid()`,
  );
  const name = unique('after-terminate').replaceAll('_', '-');
  const created = await answered(roles, 'POST', role(name));
  t.is(created.res.status, 201, created.res.text);
  t.true(await readyAgain(name));
  t.true(await roleExists(name));
  t.true(await readyAgain('steady'));
  t.is((await request('/livez')).status, 200);
});
