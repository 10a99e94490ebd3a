// The command line refuses what it cannot run with, before it starts anything: exit code 2 and the reason.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import test from 'ava';

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
