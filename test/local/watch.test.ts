// Local mode with kubectl: get -w shows ADDED, MODIFIED when drift appears after a REVOKE by hand, and DELETED;
// wait, describe and edit work; a restart loses nothing.
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import test from 'ava';
import { kubectl } from '../support/kubectl.ts';
import { eventually, metricValue, startLocalWithGuide, type LocalServer } from '../support/local.ts';
import { sql } from '../support/postgres.ts';
import { rawWatch } from '../support/rawclient.ts';

let local: LocalServer;
test.before(async () => {
  local = await startLocalWithGuide();
});
test.after.always(async () => local?.stop());

/** `kubectl get -w`, collecting lines (`received`, as they come) until `until` matches one or the deadline passes. */
function watch(args: string[], until: RegExp, deadlineMs = 60_000): { lines: Promise<string[]>; received: string[]; stop(): void } {
  const child = spawn('kubectl', ['--kubeconfig', local.kubeconfig, ...args], {
    env: { ...process.env, KUBECACHEDIR: join(local.dataDir, 'kube-cache') },
  });
  const lines: string[] = [];
  const done = new Promise<string[]>((resolve) => {
    const timer = setTimeout(() => child.kill(), deadlineMs);
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const parts = buffer.split('\n');
      buffer = parts.pop()!;
      lines.push(...parts);
      if (parts.some((l) => until.test(l))) child.kill();
    });
    child.on('exit', () => {
      clearTimeout(timer);
      resolve(lines);
    });
  });
  return { lines: done, received: lines, stop: () => child.kill() };
}

test.serial('kubectl get -w prints ADDED, then MODIFIED when a REVOKE by hand makes drift, then DELETED', async (t) => {
  const manifest = `apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata: {name: watched, namespace: default}
spec:
  roleName: watched_user
  databaseClusterRef: {name: main-cluster}
  permissions: [{database: my_app_db_production, schemas: [{name: public, tables: [{name: "*", privileges: [SELECT]}]}]}]
`;
  t.is((await local.kubectl(['apply', '-f', '-'], manifest)).code, 0);
  await sql(local.postgresDsn, 'CREATE TABLE IF NOT EXISTS watched_table (id int)', { database: 'my_app_db_production' });
  await local.kubectl(['annotate', 'pgrole', 'watched', 'touch=1']); // grants the new table
  const watcher = watch(['get', 'pgrole', 'watched', '-w', '--output-watch-events'], /^DELETED/);
  // The watch has listed the role (ADDED) and waits.
  await eventually(() => watcher.received.some((l) => /^ADDED/.test(l)), 30_000);
  await sql(local.postgresDsn, 'REVOKE SELECT ON watched_table FROM watched_user', { database: 'my_app_db_production' });
  await eventually(async () => {
    const role = JSON.parse((await local.kubectl(['get', 'pgrole', 'watched', '-o', 'json'])).stdout);
    return role.status?.conditions?.find((c: { type: string }) => c.type === 'InSync')?.status === 'False';
  }, 30_000);
  // The drift stored reached the watcher before the delete.
  await eventually(
    () => watcher.received.some((l) => /^MODIFIED\s+watched\s+watched_user\s+main-cluster\s+True\s+False\s+1/.test(l)),
    30_000,
  );
  t.is((await local.kubectl(['delete', 'pgrole', 'watched'])).code, 0);
  const lines = await watcher.lines;
  t.regex(lines[0] ?? '', /^EVENT\s+NAME\s+ROLE\s+CLUSTER\s+READY\s+IN-SYNC\s+DRIFT\s+AGE/);
  t.regex(lines[1] ?? '', /^ADDED\s+watched\s+watched_user\s+main-cluster\s+True\s+True\s+0/);
  t.true(
    lines.some((l) => /^MODIFIED\s+watched\s+watched_user\s+main-cluster\s+True\s+False\s+1/.test(l)),
    lines.join('\n'),
  );
  t.regex(lines.at(-1) ?? '', /^DELETED\s+watched/);
});

test.serial('kubectl wait --for=condition=Ready and --for=delete', async (t) => {
  const ready = await local.kubectl(['wait', '--for=condition=Ready', 'pgrole/app-user', '--timeout=30s']);
  t.is(ready.code, 0, ready.stderr);
  t.regex(ready.stdout, /databaserole.postgres.databases.dinhloc.dev\/app-user condition met/);
  const manifest =
    'apiVersion: postgres.databases.dinhloc.dev/v1alpha1\nkind: DatabaseRole\nmetadata: {name: short-lived, namespace: default}\nspec: {roleName: short_lived, databaseClusterRef: {name: main-cluster}}\n';
  t.is((await local.kubectl(['apply', '-f', '-'], manifest)).code, 0);
  const reads = () => metricValue(local, 'apiserver_request_total', { verb: 'GET', resource: 'databaseroles', code: '200' });
  const readsBefore = await reads();
  const waiting = local.kubectl(['wait', '--for=delete', 'pgrole/short-lived', '--timeout=30s']);
  // kubectl wait has read the role (a role already gone, it would print nothing).
  await eventually(async () => (await reads()) > readsBefore, 30_000);
  t.is((await local.kubectl(['delete', 'pgrole', 'short-lived', '--wait=false'])).code, 0);
  const deleted = await waiting;
  t.is(deleted.code, 0, deleted.stderr);
  t.regex(deleted.stdout, /short-lived (condition met|deleted)/);
});

test.serial('kubectl describe shows the spec, the conditions and the events', async (t) => {
  const applied = /Events:[\s\S]*Normal\s+Applied\s+\S+\s+postgres-apiserver\s+applied \d+ statements: creating role "my_app_user"/;
  const describe = () => local.kubectl(['describe', 'pgrole', 'app-user']);
  // Events are sent in the background: the write may have answered before its Event was stored.
  t.true(await eventually(async () => applied.test((await describe()).stdout)));
  const { stdout, code, stderr } = await describe();
  t.is(code, 0, stderr);
  t.regex(stdout, /Name:\s+app-user/);
  t.regex(stdout, /Role Name:\s+my_app_user/);
  t.regex(stdout, /Type:\s+Ready/);
  t.regex(stdout, applied);
  t.false(stdout.includes('strong-password-here'), 'no password in status or Events');
  t.false(stdout.includes('SCRAM-SHA-256'));
});

test.serial('kubectl edit changes the object through the editor', async (t) => {
  const editor = join(local.dataDir, 'editor.sh');
  writeFileSync(editor, '#!/bin/sh\nsed -i "s/reclaimPolicy: Retain/reclaimPolicy: Delete/" "$1"\n');
  chmodSync(editor, 0o755);
  const edited = await kubectl(local.kubeconfig, ['edit', 'pgdb', 'my-app-db'], undefined, {
    KUBE_EDITOR: editor,
    KUBECACHEDIR: join(local.dataDir, 'kube-cache'),
  });
  t.is(edited.code, 0, edited.stderr);
  t.regex(edited.stdout, /database.postgres.databases.dinhloc.dev\/my-app-db edited/);
  t.is((await local.kubectl(['get', 'pgdb', 'my-app-db', '-o', 'jsonpath={.spec.reclaimPolicy}'])).stdout, 'Delete');
});

test.serial('a restart loses no object and resourceVersions keep growing', async (t) => {
  const before = JSON.parse((await local.kubectl(['get', 'pgapi', '-A', '-o', 'json'])).stdout);
  const lastVersion = Math.max(...before.items.map((o: { metadata: { resourceVersion: string } }) => Number(o.metadata.resourceVersion)));
  const names = before.items.map((o: { metadata: { name: string } }) => o.metadata.name).sort();
  local = await local.restart();
  const after = JSON.parse((await local.kubectl(['get', 'pgapi', '-A', '-o', 'json'])).stdout);
  t.deepEqual(after.items.map((o: { metadata: { name: string } }) => o.metadata.name).sort(), names);
  t.is((await local.kubectl(['label', 'pgrole', 'app-user', 'restarted=yes'])).code, 0);
  const relabelled = JSON.parse((await local.kubectl(['get', 'pgrole', 'app-user', '-o', 'json'])).stdout);
  t.true(Number(relabelled.metadata.resourceVersion) > lastVersion);
  // A watch resumed from before the restart continues where it left off.
  const labelled = (e: WatchEvent) =>
    e.type === 'MODIFIED' && (e.object as { metadata: { labels?: Record<string, string> } }).metadata.labels?.restarted === 'yes';
  const event = await watchEvent(
    `/apis/postgres.databases.dinhloc.dev/v1alpha1/namespaces/default/databaseroles?watch=1&resourceVersion=${lastVersion}`,
    labelled,
  );
  t.like(event, { type: 'MODIFIED', object: { metadata: { name: 'app-user' } } });
});

interface WatchEvent {
  type: string;
  object: unknown;
}

/** The first event of a raw watch that `wanted` accepts, with the token and CA local mode keeps in its data folder. */
function watchEvent(path: string, wanted: (event: WatchEvent) => boolean): Promise<WatchEvent> {
  const kubeconfig = readFileSync(local.kubeconfig, 'utf8');
  const server = /server: (\S+)/.exec(kubeconfig)![1]!;
  const headers = { authorization: `Bearer ${readFileSync(join(local.dataDir, 'token'), 'utf8').trim()}` };
  return new Promise((resolve, reject) => {
    const req = request(`${server}${path}`, { ca: readFileSync(join(local.dataDir, 'tls', 'ca.crt')), headers }, (res) => {
      let buffer = '';
      res.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        for (let newline = buffer.indexOf('\n'); newline >= 0; newline = buffer.indexOf('\n')) {
          const event = JSON.parse(buffer.slice(0, newline)) as WatchEvent;
          buffer = buffer.slice(newline + 1);
          if (!wanted(event)) continue;
          resolve(event);
          req.destroy();
        }
      });
    });
    req.on('error', reject);
    setTimeout(() => reject(new Error('no such watch event within 10 s')), 10_000);
    req.end();
  });
}

test.serial('a server that stops ends its open watches at once instead of waiting for their timeout', async (t) => {
  const watch = rawWatch(local.kubeconfig, '/apis/postgres.databases.dinhloc.dev/v1alpha1/databaseroles?watch=1&timeoutSeconds=600');
  t.teardown(() => watch.stop());
  t.regex(await watch.contentType, /^application\/json/, 'the watch is open');
  const ended = watch
    .until(() => false, 60_000)
    .then(
      () => 'still open',
      (error: Error) => error.message,
    );
  const stopping = Date.now();
  local = await local.restart();
  t.regex(await ended, /^the watch ended \(HTTP 200\)/);
  t.true(Date.now() - stopping < 30_000, `the restart took ${Date.now() - stopping} ms`);
});
