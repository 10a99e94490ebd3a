// Local mode never loads client-node: that library is some 70 MiB of memory once imported, and only cluster mode
// talks to a cluster. main.ts loads each mode when it runs; nothing local mode imports may import it.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';

const root = resolve(import.meta.dirname, '../..');

/** The packages a module loads, as the child process resolved them. */
function packagesLoadedBy(module: string): string[] {
  const hooks = pathToFileURL(resolve(root, 'test/support/loadhooks.mjs')).href;
  const script = `import { register } from 'node:module'; register(${JSON.stringify(hooks)}); await import(${JSON.stringify(pathToFileURL(resolve(root, module)).href)});`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (child.status !== 0) throw new Error(`importing ${module} failed: ${child.stderr}`);
  return [...child.stderr.matchAll(/^resolved (.+)$/gm)].map((m) => m[1]!);
}

test('local mode loads no part of client-node', (t) => {
  const loaded = packagesLoadedBy('modes/local.ts');
  t.true(
    loaded.some((url) => url.includes('/node_modules/koa/')),
    'the hooks see the packages local mode loads',
  );
  t.deepEqual(
    loaded.filter((url) => url.includes('@kubernetes/client-node')),
    [],
  );
});

test('cluster mode does load it (the check above can see it)', (t) => {
  t.true(packagesLoadedBy('modes/cluster.ts').some((url) => url.includes('@kubernetes/client-node')));
});
