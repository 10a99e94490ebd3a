// initdb and postgres refuse to run as root: as root, they run as the unprivileged user nobody. Nobody must
// then reach their binaries and folders; a checkout in root's home folder (mode 0700) is out of its reach, so
// what it cannot reach is served from a place it can: /var/lib/postgres-apiserver, made and owned by root.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, realpathSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

const sharedPlace = '/var/lib/postgres-apiserver';
const serverUserName = 'nobody';

function asRoot(): boolean {
  return process.getuid?.() === 0;
}

/** The uid and gid to spawn initdb and postgres with: nobody's as root, our own otherwise. */
export function serverUser(): { uid: number; gid: number } | Record<string, never> {
  if (!asRoot()) return {};
  const id = (flag: string) => spawnSync('id', [flag, serverUserName], { encoding: 'utf8' });
  const [uid, gid] = [id('-u'), id('-g')];
  if (uid.status !== 0 || gid.status !== 0)
    throw new Error(`PostgreSQL cannot run as root and there is no user ${serverUserName} to run it as`);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

export function giveToServerUser(path: string): void {
  if (asRoot()) spawnSync('chown', ['-R', serverUserName, path]);
}

/** Whether the server's user can reach `path` (every folder above it searchable) and search or run it. */
function reachable(path: string): boolean {
  return spawnSync('test', ['-x', path], serverUser()).status === 0;
}

/**
 * A folder of /var/lib/postgres-apiserver (made searchable by all), refused unless root owns the place and no one
 * else may write in it.
 */
function placeFolder(folder: 'data' | 'binaries'): string {
  mkdirSync(join(sharedPlace, folder), { recursive: true, mode: 0o755 });
  for (const path of [sharedPlace, join(sharedPlace, folder)]) {
    const stat = lstatSync(path);
    if (!stat.isDirectory() || stat.uid !== 0 || (stat.mode & 0o022) !== 0) {
      throw new Error(`${path} must be a folder owned by root that no one else may write in`);
    }
  }
  return join(sharedPlace, folder);
}

/** A short name for a path, so that two checkouts never share a place. */
function placeName(path: string): string {
  return `${basename(path)}-${createHash('sha256').update(resolve(path)).digest('hex').slice(0, 12)}`;
}

/**
 * The folder `dir` as the server's user reaches it. Where it cannot reach `dir`'s parent, `dir` becomes a link
 * to a folder in the shared place: the user still finds everything under `dir`, and the server gets the real path.
 * A folder there already that it cannot reach and that holds no data (what a failed start leaves) is replaced.
 */
export function reachableFolder(dir: string): string {
  if (asRoot() && !reachable(dirname(resolve(dir)))) {
    if (existsSync(dir) && !lstatSync(dir).isSymbolicLink() && !reachable(dir)) {
      if (existsSync(join(dir, 'data', 'PG_VERSION'))) {
        throw new Error(
          `${dir} holds PostgreSQL data that the user ${serverUserName}, which PostgreSQL runs as when started by root, cannot reach: move it to a folder it can reach`,
        );
      }
      rmSync(dir, { recursive: true, force: true });
    }
    if (!existsSync(dir)) {
      const target = join(placeFolder('data'), placeName(dir));
      mkdirSync(target, { recursive: true, mode: 0o755 });
      mkdirSync(dirname(resolve(dir)), { recursive: true });
      symlinkSync(target, dir);
    }
  }
  mkdirSync(dir, { recursive: true });
  return realpathSync(dir);
}

/**
 * The binaries folder `bin` (of a package's `native/`) as the server's user reaches it: itself, or a copy of its
 * `native/` folder in the shared place, made once per `release` (such as pg17-17.10.0).
 */
export function reachableBinaries(bin: string, release: string): string {
  if (!asRoot() || reachable(join(bin, 'postgres'))) return bin;
  const copy = join(placeFolder('binaries'), release);
  if (!existsSync(join(copy, 'bin', 'postgres'))) {
    const native = dirname(bin);
    const staging = `${copy}.${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    cpSync(native, staging, { recursive: true, verbatimSymlinks: true });
    try {
      renameSync(staging, copy);
    } catch (error) {
      // Another process made the same copy first: its copy stays.
      rmSync(staging, { recursive: true, force: true });
      if (!existsSync(join(copy, 'bin', 'postgres'))) throw error;
    }
  }
  if (!reachable(join(copy, 'bin', 'postgres'))) {
    throw new Error(`the PostgreSQL binaries copied to ${copy} cannot be run by the user ${serverUserName}`);
  }
  return join(copy, 'bin');
}
