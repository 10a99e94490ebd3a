// The serving certificate's files followed: a renewal written in place, or swapped in as a mounted Secret
// does it (a symlinked folder), reaches the server; a half-written or mismatched pair does not.
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { pino } from 'pino';
import { followCertificate, readCertificate, type Certificate } from '../../apiserver/certfiles.ts';
import { createServingCertificate } from '../../apiserver/tls.ts';
import { eventually } from '../support/local.ts';

const log = pino({ level: 'silent' });

function folder(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'certfiles-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function write(dir: string, pair: Certificate): void {
  writeFileSync(join(dir, 'tls.crt'), pair.cert);
  writeFileSync(join(dir, 'tls.key'), pair.key);
}

test('a whole pair is read; a key of another certificate or a missing file is not', async (t) => {
  const dir = folder(t);
  const [a, b] = await Promise.all([createServingCertificate(['a.example']), createServingCertificate(['b.example'])]);
  const files = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') };
  t.is(readCertificate(files), undefined);
  write(dir, a);
  t.deepEqual(readCertificate(files), { cert: a.cert, key: a.key });
  writeFileSync(files.key, b.key);
  t.is(readCertificate(files), undefined);
});

test('a renewal written in place reaches the server once the pair is whole', async (t) => {
  const dir = folder(t);
  const [first, renewed] = await Promise.all([createServingCertificate(['a.example']), createServingCertificate(['a.example'])]);
  write(dir, first);
  const seen: Certificate[] = [];
  const following = followCertificate({ cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') }, first, (c) => seen.push(c), log);
  t.teardown(() => following.stop());
  write(dir, renewed);
  t.true(await eventually(() => seen.length > 0));
  t.deepEqual(seen, [{ cert: renewed.cert, key: renewed.key }]);
});

test('a renewal swapped in as kubelet updates a mounted Secret (a new folder behind the ..data symlink) reaches the server', async (t) => {
  const dir = folder(t);
  const [first, renewed] = await Promise.all([createServingCertificate(['a.example']), createServingCertificate(['a.example'])]);
  const version = (name: string, pair: Certificate) => {
    mkdirSync(join(dir, name));
    write(join(dir, name), pair);
  };
  version('..v1', first);
  symlinkSync('..v1', join(dir, '..data'));
  symlinkSync('..data/tls.crt', join(dir, 'tls.crt'));
  symlinkSync('..data/tls.key', join(dir, 'tls.key'));
  const seen: Certificate[] = [];
  const following = followCertificate({ cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') }, first, (c) => seen.push(c), log);
  t.teardown(() => following.stop());
  version('..v2', renewed);
  symlinkSync('..v2', join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  t.true(await eventually(() => seen.length > 0));
  t.is(seen[0]!.cert, renewed.cert);
});
