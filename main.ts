// Local mode entry point. Today it starts the embedded PostgreSQL server that local mode manages and
// prints its DSN; the Kubernetes API surface is not served yet.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startEmbeddedPostgres } from './storage/embedded-postgres.ts';

const usage = `Usage: npm start -- [--data-dir DIR] [--postgres-port PORT]

  --data-dir DIR        keep all state under DIR (default: ./.data); the embedded server's DSN is written to DIR/postgres.dsn
  --postgres-port PORT  port of the embedded PostgreSQL server (default: a free port)
  --help                show this text`;

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string', default: '.data' },
    'postgres-port': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(usage);
  process.exit(0);
}

const dataDir = resolve(values['data-dir']);
mkdirSync(dataDir, { recursive: true });
const postgres = await startEmbeddedPostgres({
  major: 17,
  dir: join(dataDir, 'postgres'),
  ...(values['postgres-port'] ? { port: Number(values['postgres-port']) } : {}),
});
const dsnFile = join(dataDir, 'postgres.dsn');
writeFileSync(dsnFile, `${postgres.dsn}\n`, { mode: 0o600 });
console.log(`PostgreSQL ${postgres.major} is running on 127.0.0.1:${postgres.port}; its superuser DSN is in ${dsnFile}`);
console.log('The Kubernetes API (kubectl access) is not served yet. Press Ctrl-C to stop.');

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void postgres.stop().then(() => process.exit(0));
  });
}
