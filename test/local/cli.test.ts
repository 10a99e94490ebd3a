// The command line refuses what it cannot run with, before it starts anything: exit code 2 and the reason for
// bad options, 1 and one line for a fault of the environment (a busy port).
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { kubectl } from '../support/kubectl.ts';
import { eventually, guideManifests } from '../support/local.ts';

const root = resolve(import.meta.dirname, '../..');

function run(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'main.ts', ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, STORE_DSN: '', ...env },
    timeout: 60_000,
  });
}

const refusals: [string[], RegExp][] = [
  [['--mode', 'bogus'], /--mode must be local or cluster, not "bogus"/],
  [['--resync-interval', 'soon'], /--resync-interval must be from 1 to 86400 seconds, not "soon"/],
  [['--resync-interval', '0'], /--resync-interval must be from 1 to 86400 seconds/],
  [['--port', '70000'], /--port must be a port number, not "70000"/],
  [['--mode', 'cluster'], /cluster mode needs --store-dsn, --tls-cert-file, --tls-private-key-file/],
];

for (const [args, reason] of refusals) {
  test(`${args.join(' ')} is refused with the reason and the usage`, (t) => {
    const result = run(args);
    t.is(result.status, 2, result.stderr);
    t.regex(result.stderr, reason);
    t.regex(result.stderr, /Usage: npm start -- \[options\]/);
  });
}

test('--help lists the options of both modes', (t) => {
  const result = run(['--help']);
  t.is(result.status, 0);
  for (const option of ['--mode', '--data-dir', '--store-dsn', '--resync-interval', '--tls-cert-file', '--kubeconfig', '--lease-namespace'])
    t.true(result.stdout.includes(option), option);
});

test('a busy port is one line on stderr, exit code 1, and nothing is written', async (t) => {
  const busy = createServer();
  await new Promise<void>((listening) => busy.listen(0, '127.0.0.1', () => listening()));
  t.teardown(() => busy.close());
  const port = (busy.address() as AddressInfo).port;
  const dataDir = join(mkdtempSync(join(tmpdir(), 'busy-')), 'data');
  t.teardown(() => rmSync(dirname(dataDir), { recursive: true, force: true }));
  const result = run(['--port', String(port), '--data-dir', dataDir]);
  t.is(result.status, 1, result.stderr);
  t.is(result.stderr.trim().split('\n').length, 1, result.stderr);
  t.regex(result.stderr, new RegExp(`port ${port} on 127.0.0.1 is in use`));
  t.false(existsSync(dataDir), 'no data folder was made');
});

/** `npm start`'s main in a new data folder, until its banner is out; stopped (SIGINT) when the test ends. */
async function startMain(t: ExecutionContext): Promise<{ child: ChildProcessWithoutNullStreams; dataDir: string; banner: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'banner-'));
  chmodSync(dataDir, 0o755); // as root, PostgreSQL runs as nobody, who must reach the folder inside
  const child = spawn(process.execPath, ['--import', 'tsx', 'main.ts', '--data-dir', dataDir, '--port', '0', '--log-level', 'warn'], {
    cwd: root,
    stdio: 'pipe',
  });
  child.stderr.resume();
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGINT');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  });
  let banner = '';
  child.stdout.on('data', (chunk: Buffer) => (banner += chunk.toString('utf8')));
  for (const deadline = Date.now() + 90_000; !banner.includes('Press Ctrl-C'); await new Promise((r) => setTimeout(r, 100))) {
    if (Date.now() > deadline || child.exitCode !== null) t.fail(`no banner: ${banner}`);
  }
  return { child, dataDir, banner };
}

/** The embedded PostgreSQL server's pid, from its postmaster.pid. */
function postgresPid(dataDir: string): number {
  return Number(readFileSync(join(realpathSync(join(dataDir, 'postgres')), 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Whether something accepts connections on the loopback `port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

test('SIGTERM: the process stops cleanly (exit code 0) and its embedded PostgreSQL server shuts down', async (t) => {
  const { child, dataDir } = await startMain(t);
  const postgres = postgresPid(dataDir);
  const exited = new Promise<number | null>((done) => child.once('exit', done));
  child.kill('SIGTERM');
  t.is(await exited, 0);
  t.true(await eventually(() => !alive(postgres), 30_000), 'the PostgreSQL server is left running');
});

test('a second SIGTERM while stopping cuts the stop short, and the embedded PostgreSQL server still shuts down', async (t) => {
  const { child, dataDir, banner } = await startMain(t);
  const port = Number(/serving on https:\/\/127\.0\.0\.1:(\d+)/.exec(banner)![1]);
  const postgres = postgresPid(dataDir);
  const exited = new Promise<number | null>((done) => child.once('exit', done));
  child.kill('SIGTERM');
  // The first signal is being handled once the port no longer takes connections (signals sent at once merge).
  t.true(await eventually(async () => child.exitCode !== null || !(await listening(port))));
  child.kill('SIGTERM');
  t.true([0, 1].includes((await exited)!), 'it exits: 1 when cut short, 0 when the stop was done first');
  t.true(await eventually(() => !alive(postgres), 30_000), 'the PostgreSQL server is left running');
});

test("npm start's banner gives the command that makes the guide's Secret: run as printed, the guide's DatabaseCluster connects", async (t) => {
  const { dataDir, banner } = await startMain(t);
  const command = banner.split('\n').find((line) => line.trim().startsWith('kubectl create secret generic postgres-connection'));
  t.truthy(command, banner);
  const kubeconfig = join(dataDir, 'kubeconfig');
  const created = await kubectl(kubeconfig, command!.trim().split(/\s+/).slice(1), undefined, {
    KUBECACHEDIR: join(dataDir, 'kube-cache'),
  });
  t.is(created.code, 0, created.stderr);
  // The guide's Step 2 as it stands, now that Step 1's Secret points at the embedded server.
  const step2 = guideManifests('unused')
    .split(/^---$/m)
    .find((doc) => doc.includes('kind: DatabaseCluster'))!;
  t.is((await kubectl(kubeconfig, ['apply', '-f', '-'], step2, { KUBECACHEDIR: join(dataDir, 'kube-cache') })).code, 0);
  const ready = await kubectl(
    kubeconfig,
    ['get', 'pgcluster', 'main-cluster', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'],
    undefined,
    {
      KUBECACHEDIR: join(dataDir, 'kube-cache'),
    },
  );
  t.is(ready.stdout, 'True', ready.stderr);
});
