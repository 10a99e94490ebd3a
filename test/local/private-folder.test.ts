// Started by root from a folder only root may enter (a checkout in root's home folder, mode 0700): PostgreSQL,
// which runs as nobody when started by root, still gets binaries and folders it can reach, so local mode starts,
// serves and keeps its data. Run by another user, the same folders are simply theirs.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import test from 'ava';
import { binDir } from '../../storage/embedded-postgres.ts';
import { reachableBinaries, serverUser } from '../../storage/unprivileged.ts';
import { guideManifests, startLocal } from '../support/local.ts';

function privateFolder(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if ((statSync(dir).mode & 0o777) !== 0o700) throw new Error(`${dir} is not private (mode 0700)`);
  return dir;
}

test('local mode with its data folder in a folder only its owner may enter serves the guide and keeps it across a restart', async (t) => {
  const parent = privateFolder('private-local-');
  t.teardown(() => rmSync(parent, { recursive: true, force: true }));
  let local = await startLocal(join(parent, '.data'));
  t.teardown(() => local.stop());
  const applied = await local.kubectl(['apply', '-f', '-'], guideManifests(local.postgresDsn));
  t.is(applied.code, 0, applied.stderr);
  local = await local.restart();
  const role = await local.kubectl(['get', 'databaserole', 'app-user', '-o', 'jsonpath={.status.exists}']);
  t.is(role.code, 0, role.stderr);
  t.is(role.stdout, 'true');
});

test('PostgreSQL binaries in a folder only its owner may enter are run from a copy the server user reaches', (t) => {
  const dir = privateFolder('private-binaries-');
  cpSync(dirname(binDir(17)), join(dir, 'native'), { recursive: true, verbatimSymlinks: true });
  const bin = reachableBinaries(join(dir, 'native', 'bin'), `pg17-private-${randomBytes(4).toString('hex')}`);
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(dirname(bin), { recursive: true, force: true });
  });
  const version = spawnSync(join(bin, 'postgres'), ['--version'], { encoding: 'utf8', ...serverUser() });
  t.is(version.status, 0, version.stderr || version.error?.message);
  t.regex(version.stdout, /\(PostgreSQL\) 17\./);
});
