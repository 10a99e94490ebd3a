// Password rotation in local mode on a cluster whose resyncInterval is an hour, so only the Secret watch can
// explain what happens within seconds: a password changed with kubectl logs in and the old one no longer does;
// a Secret or key gone leaves the role Ready=False, naming the Secret, with its old password; a Secret created
// again is applied. Timings are loose on purpose: the machine is shared.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { asUser, sql } from '../support/postgres.ts';
import { eventually, reconcilePasses, startLocalWithGuide, type LocalServer } from '../support/local.ts';

let local: LocalServer;
test.before(async () => {
  local = await startLocalWithGuide();
  const patched = await local.kubectl(['patch', 'pgcluster', 'main-cluster', '--type', 'merge', '-p', '{"spec":{"resyncInterval":"1h"}}']);
  if (patched.code !== 0) throw new Error(patched.stderr);
  // The passes already due at the server's 500 ms default are over: no pass for 3 s (six of those intervals),
  // so the next resync is an hour away.
  let passes = -1;
  let since = 0;
  const quiet = await eventually(async () => {
    const now = await reconcilePasses(local, 'main-cluster');
    if (now !== passes) [passes, since] = [now, Date.now()];
    return Date.now() - since >= 3_000;
  }, 60_000);
  if (!quiet) throw new Error('the reconciler of main-cluster kept passing at the 500 ms default');
});
test.after.always(async () => local?.stop());

interface Role {
  status: { passwordSecretVersion?: string; conditions: { type: string; status: string; reason: string; message: string }[] };
}

async function json<T>(args: string[]): Promise<T> {
  const result = await local.kubectl([...args, '-o', 'json']);
  if (result.code !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout) as T;
}

async function kubectlOk(args: string[]): Promise<void> {
  const result = await local.kubectl(args);
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
}

const ready = (role: Role) => role.status.conditions.find((c) => c.type === 'Ready')!;

const logsIn = (password: string) =>
  sql(asUser(local.postgresDsn, 'my_app_user', password), 'SELECT 1', { database: 'my_app_db_production' }).then(
    () => true,
    () => false,
  );

/**
 * Ready's status and reason in each event `kubectl get -w` prints (`lines`, as they come), until `until` matches
 * one or 60 s pass (`done`).
 */
function watchReady(until: RegExp): { lines: string[]; done: Promise<string[]> } {
  const jsonpath =
    '{.type} {.object.status.conditions[?(@.type=="Ready")].status} {.object.status.conditions[?(@.type=="Ready")].reason}{"\\n"}';
  const child = spawn(
    'kubectl',
    ['--kubeconfig', local.kubeconfig, 'get', 'pgrole', 'app-user', '-w', '--output-watch-events', '-o', `jsonpath=${jsonpath}`],
    {
      env: { ...process.env, KUBECACHEDIR: join(local.dataDir, 'kube-cache') },
    },
  );
  const lines: string[] = [];
  const done = new Promise<string[]>((resolve) => {
    const timer = setTimeout(() => child.kill(), 60_000);
    child.stdout.on('data', (chunk: Buffer) => {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      if (lines.some((l) => until.test(l))) child.kill();
    });
    child.on('exit', () => {
      clearTimeout(timer);
      resolve(lines);
    });
  });
  return { lines, done };
}

test.serial(
  "a password changed with kubectl logs in within seconds, the old one fails, and passwordSecretVersion is the Secret's resourceVersion",
  async (t) => {
    t.true(await logsIn('strong-password-here'));
    const changedAt = Date.now();
    await kubectlOk(['patch', 'secret', 'app-user-password', '--type', 'merge', '-p', '{"stringData":{"password":"rotated-password"}}']);
    t.true(await eventually(() => logsIn('rotated-password'), 10_000));
    t.log(`the new password logged in ${Date.now() - changedAt} ms after the change`);
    t.false(await logsIn('strong-password-here'));
    const secret = await json<{ metadata: { resourceVersion: string } }>(['get', 'secret', 'app-user-password']);
    t.true(
      await eventually(
        async () => (await json<Role>(['get', 'pgrole', 'app-user'])).status.passwordSecretVersion === secret.metadata.resourceVersion,
      ),
    );
    t.like(ready(await json<Role>(['get', 'pgrole', 'app-user'])), { status: 'True', reason: 'Ready' });
    // A rotation on purpose is told as one, never as drift.
    const reasons = async () =>
      (
        await local.kubectl([
          'get',
          'events',
          '--field-selector',
          'involvedObject.name=app-user',
          '-o',
          'jsonpath={range .items[*]}{.reason}: {.message}{"\\n"}{end}',
        ])
      ).stdout;
    t.true(
      await eventually(async () => /^PasswordRotated: the password from Secret default\/app-user-password/m.test(await reasons())),
      await reasons(),
    );
    t.notRegex(await reasons(), /^DriftDetected: .*password/m);
  },
);

test.serial('a key removed from the Secret makes the role Ready=False with reason SecretKeyMissing; its password stays', async (t) => {
  await kubectlOk(['patch', 'secret', 'app-user-password', '--type', 'json', '-p', '[{"op":"remove","path":"/data/password"}]']);
  const role = await json<Role>(['get', 'pgrole', 'app-user']);
  t.like(ready(role), {
    status: 'False',
    reason: 'SecretKeyMissing',
    message: 'Secret default/app-user-password has no key "password": the role keeps its password',
  });
  t.true(await logsIn('rotated-password'));
});

test.serial(
  'a deleted Secret turns the role Ready=False with reason SecretNotFound for a watcher within seconds; its password stays',
  async (t) => {
    const watcher = watchReady(/^MODIFIED False SecretNotFound$/);
    // The watch has listed the role (its first line) and waits.
    t.true(await eventually(() => watcher.lines.length > 0, 30_000), 'the watch printed the role');
    const deletedAt = Date.now();
    await kubectlOk(['delete', 'secret', 'app-user-password']);
    const lines = await watcher.done;
    t.true(lines.includes('MODIFIED False SecretNotFound'), lines.join('\n'));
    t.log(`a watcher saw Ready=False ${Date.now() - deletedAt} ms after the delete`);
    const role = await json<Role>(['get', 'pgrole', 'app-user']);
    t.like(ready(role), {
      status: 'False',
      reason: 'SecretNotFound',
      message: 'Secret default/app-user-password does not exist: the role keeps its password',
    });
    t.true(await logsIn('rotated-password'));
    t.false(JSON.stringify(role).includes('rotated-password'), 'no password in the object');
  },
);

test.serial('the Secret created again is applied within seconds and the role is Ready again', async (t) => {
  await kubectlOk(['create', 'secret', 'generic', 'app-user-password', '--from-literal=password=recreated-password']);
  t.true(await eventually(() => logsIn('recreated-password'), 10_000));
  t.false(await logsIn('rotated-password'));
  t.true(await eventually(async () => ready(await json<Role>(['get', 'pgrole', 'app-user'])).status === 'True'));
});

test.serial(
  'a Secret made --from-file keeps its newline: the password is used as it is, with a Warning Event; applying the role warns too',
  async (t) => {
    const file = join(local.dataDir, 'password.txt');
    writeFileSync(file, 'from-a-file\n');
    await kubectlOk(['delete', 'secret', 'app-user-password']);
    await kubectlOk(['create', 'secret', 'generic', 'app-user-password', `--from-file=password=${file}`]);
    t.true(await eventually(() => logsIn('from-a-file\n'), 10_000), 'the Secret’s bytes are the password');
    t.false(await logsIn('from-a-file'));
    const warnings = async () =>
      (
        await local.kubectl([
          'get',
          'events',
          '--field-selector',
          'involvedObject.name=app-user,type=Warning',
          '-o',
          'jsonpath={range .items[*]}{.reason}: {.message}{"\\n"}{end}',
        ])
      ).stdout;
    t.true(await eventually(async () => /^PasswordEndsInNewline: .*ends in a newline/m.test(await warnings())), await warnings());
    t.false((await warnings()).includes('from-a-file'), 'the Event holds no password');

    const role = await local.kubectl(['get', 'pgrole', 'app-user', '-o', 'yaml']);
    const applied = await local.kubectl(['apply', '-f', '-'], role.stdout);
    t.is(applied.code, 0, applied.stderr);
    t.regex(applied.stderr, /Warning: the password in Secret default\/app-user-password \(key "password"\) ends in a newline/);
    t.like(ready(await json<Role>(['get', 'pgrole', 'app-user'])), { status: 'True' }, 'advice is no fault');
  },
);
