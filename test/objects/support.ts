// Helpers for object store tests: one real PostgreSQL server per test file, one schema per test (so tests
// run concurrently), stores closed after each test, and the usage guide's kinds as plain objects.
import type { ExecutionContext, TestFn } from 'ava';
import { ObjectStore, type ObjectStoreOptions } from '../../storage/objects/store.ts';
import { asUser, sql, startTestServer, unique, type TestServer } from '../support/postgres.ts';
import type { KubeObject } from '../../openapi/objects.ts';

export const roles = 'postgres.databases.dinhloc.dev/databaseroles';
export const clusters = 'postgres.databases.dinhloc.dev/databaseclusters';
export const secrets = '/secrets';

export function role(name: string, namespace = 'team-a', roleName = name.replaceAll('-', '_')): KubeObject {
  return {
    apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
    kind: 'DatabaseRole',
    metadata: { name, namespace },
    spec: { roleName, databaseClusterRef: { name: 'main-cluster' } },
  };
}

export interface StoreSuite {
  server(): Promise<TestServer>;
  /** Opens a store on a new schema, or on `schema` (a second replica, a restart); closed after the test. */
  open(t: ExecutionContext, schema?: string, dsn?: string, options?: ObjectStoreOptions): Promise<{ store: ObjectStore; schema: string }>;
}

export function storeSuite(test: TestFn): StoreSuite {
  let started: Promise<TestServer> | undefined;
  test.before(() => {
    started = startTestServer(process.env.PG_TEST_DSN ? 'external' : 'pg17', { max_connections: '300' });
    started.catch(() => undefined); // reported by the tests that await it
  });
  test.after.always(async () => {
    await (await started?.catch(() => undefined))?.stop();
  });
  const server = () => started!;
  return {
    server,
    async open(t, schema = unique('store'), dsn, options = {}) {
      const store = await ObjectStore.open(dsn ?? (await server()).superuserDsn, { ...options, schema });
      t.teardown(() => store.close());
      return { store, schema };
    },
  };
}

/** Waits for `condition`, polling; fails with `what` after the deadline. */
export async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** `namespace/name` of each object, as lists are compared. */
export function keys(objects: KubeObject[]): string[] {
  return objects.map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`);
}

export function increasing(resourceVersions: string[]): boolean {
  return resourceVersions.every((rv, i) => i === 0 || BigInt(rv) > BigInt(resourceVersions[i - 1]!));
}

/** Ends the store's LISTEN connection from the server side, as a failover or an idle-connection killer would. */
export async function terminateListener(superuserDsn: string, schema: string, user?: string): Promise<void> {
  const [row] = await sql<{ terminated: number }>(
    superuserDsn,
    `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS terminated FROM pg_stat_activity
      WHERE application_name = 'postgres-apiserver watch' AND query = $1 AND ($2::text IS NULL OR usename = $2)`,
    { params: [`LISTEN "${schema}"`, user ?? null] },
  );
  if (!row!.terminated) throw new Error('no LISTEN connection to terminate');
}

/** A replica logging in as its own user, so that its connections can be refused while another replica writes. */
export async function replicaWithOwnUser(t: ExecutionContext, suite: StoreSuite, schema: string, options: ObjectStoreOptions = {}) {
  const server = await suite.server();
  const user = unique('replica');
  await sql(server.superuserDsn, `CREATE ROLE ${user} LOGIN SUPERUSER PASSWORD 'replica-secret'`);
  const { store } = await suite.open(t, schema, asUser(server.superuserDsn, user, 'replica-secret'), options);
  return {
    store,
    /** Cuts the replica's LISTEN connection and refuses new ones until `reconnect` is called. */
    disconnect: async () => {
      await sql(server.superuserDsn, `ALTER ROLE ${user} NOLOGIN`);
      await terminateListener(server.superuserDsn, schema, user);
      await until(
        'the LISTEN connection to end',
        async () =>
          (await sql(server.superuserDsn, `SELECT 1 FROM pg_stat_activity WHERE usename = $1 AND query LIKE 'LISTEN%'`, { params: [user] }))
            .length === 0,
      );
    },
    reconnect: () => sql(server.superuserDsn, `ALTER ROLE ${user} LOGIN`),
  };
}
