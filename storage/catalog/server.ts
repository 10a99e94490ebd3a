// One PostgreSQL server (a DatabaseCluster): a pool per database, coalesced snapshots, and plans applied one
// transaction per database, serialized per database so concurrent GRANTs never collide.
import type pg from 'pg';
import { guardedClient, guardedPool, isConnectionFault, PreparedStatements } from '../connections.ts';
import {
  driftInstallPresent,
  planDriftTriggers,
  planDriftTriggersRemoval,
  readDriftTriggers,
  catalogApplicationName,
  type DatabaseTriggers,
} from './drifttrigger.ts';
import { connectionConfig, databaseOf } from './dsn.ts';
import { readFingerprint, readFingerprintFacts, type FingerprintFacts } from './fingerprint.ts';
import { readServerFacts, readTemplates, type FactsScope, type ServerFacts } from './eligibility.ts';
import { CatalogError, type FaultReasons } from './errors.ts';
import { quoteIdent, quoteLiteral } from './identifiers.ts';
import type { Plan } from './plan.ts';
import { RoleVerifiers } from './scram.ts';
import { SharedReads } from './flights.ts';
import { readSnapshot, type Queryable, type Snapshot, type SnapshotScope } from './snapshot.ts';
import { mergeGrants, type Statement } from './statements.ts';

/** Called before a statement runs; it never carries a secret. */
export type StatementLog = (entry: { database: string; sql: string; description: string }) => void;

/** role → its password (null for none); consulted only by statements that set a password. */
export type Passwords = ReadonlyMap<string, string | null>;

/**
 * One snapshot read, one applied batch (a transaction, or a statement run alone) or one fingerprint read (the
 * fast path's query of the shared catalogs), with how long it took.
 */
export interface CatalogEvent {
  kind: 'snapshot' | 'batch' | 'fingerprint';
  /** The batch's database; for a snapshot, the maintenance database it starts from. */
  database: string;
  seconds: number;
  ok: boolean;
}

/** Connections of one database's pool, as pg counts them. */
export interface PoolStats {
  database: string;
  total: number;
  idle: number;
  /** Callers queued for a connection. */
  waiting: number;
}

export interface ClusterCatalogOptions {
  /** Connections per database pool. */
  maxConnections?: number;
  log?: StatementLog;
  /** Called after every snapshot read (once per coalesced read) and every batch. */
  observe?: (event: CatalogEvent) => void;
}

// Held for the length of a transaction that changes ACLs in a database, by every replica of this server:
// PostgreSQL fails concurrent updates of one ACL with "tuple concurrently updated".
const aclLockKey = 0x70675f61636cn;
const lockAcls = `SELECT pg_advisory_xact_lock(${aclLockKey})`;

interface Batch {
  database: string | null;
  transactional: boolean;
  statements: readonly Statement[];
  /** Its failure does not stop the batches after it (Statement.isolated). */
  isolated?: boolean;
}

/** Consecutive statements for one database form one transaction; others, and isolated ones, run alone. */
function batches(statements: readonly Statement[]): Batch[] {
  const result: (Batch & { statements: Statement[] })[] = [];
  for (const s of statements) {
    const last = result.at(-1);
    const joins = last && !last.isolated && !s.isolated && s.transactional && last.transactional && last.database === s.database;
    if (joins) last.statements.push(s);
    else result.push({ database: s.database, transactional: s.transactional, statements: [s], ...(s.isolated ? { isolated: true } : {}) });
  }
  return result;
}

interface Part {
  plan: number;
  statements: readonly Statement[];
}

/**
 * A plan of the shape applyAll merges: role-level statements first, then transactional statements in
 * databases (grouped by database). Anything else (a DROP ROLE after DROP OWNED, CREATE DATABASE) is undefined.
 */
function splitForMerging(plan: Plan): { head: Statement[]; byDatabase: Map<string, Statement[]> } | undefined {
  const firstInDatabase = plan.statements.findIndex((s) => s.database !== null);
  const head = firstInDatabase < 0 ? [...plan.statements] : plan.statements.slice(0, firstInDatabase);
  const rest = firstInDatabase < 0 ? [] : plan.statements.slice(firstInDatabase);
  if ([...head, ...rest].some((s) => !s.transactional) || rest.some((s) => s.database === null)) return undefined;
  const byDatabase = new Map<string, Statement[]>();
  for (const s of rest) byDatabase.set(s.database!, [...(byDatabase.get(s.database!) ?? []), s]);
  return { head, byDatabase };
}

/** Runs SQL; GRANT and REVOKE without the right to do it only warn, and a plan that did nothing must not pass for done. */
/** SQLSTATEs of the notices by which PostgreSQL refuses part of a GRANT or REVOKE. */
const refusalNotices = new Set(['01007', '01006']);

function refusedByNotice(error: CatalogError): boolean {
  return refusalNotices.has(error.sqlstate ?? '');
}

async function query(
  client: pg.PoolClient,
  sql: string,
  description: string,
  secrets: string[],
  faults?: FaultReasons,
  timeoutMs?: number,
): Promise<void> {
  const refusals: { code?: string; message?: string }[] = [];
  const onNotice = (notice: { code?: string; message?: string }) => {
    if (refusalNotices.has(notice.code ?? '')) refusals.push(notice);
  };
  client.on('notice', onNotice);
  try {
    // query_timeout per query is pg's, missing from its types.
    await client.query(timeoutMs ? ({ text: sql, query_timeout: timeoutMs } as pg.QueryConfig) : sql);
  } catch (error) {
    throw CatalogError.from(error, description, secrets, faults);
  } finally {
    client.off('notice', onNotice);
  }
  if (refusals.length > 0) throw new CatalogError(description, refusals[0]!.code, refusals.map((n) => n.message).join('; '));
}

/**
 * Bounds on every catalog connection, so that a server that does not answer delays only its own cluster's
 * requests, and never past the request deadline (apiserver/deadline.ts): 15 s to connect (or to get a turn at
 * a busy pool: a loaded machine can take seconds to answer many at once), 10 s per statement
 * (PostgreSQL cancels it: 57014) and per lock wait (55P03), and, for a server that cannot even cancel (frozen),
 * the client gives up 5 s later. CREATE and DROP DATABASE, which copy or remove files, get longer (slowStatementMs).
 */
const catalogDeadlines = {
  connectionTimeoutMillis: 15_000,
  statement_timeout: 10_000,
  lock_timeout: 10_000,
  query_timeout: 15_000,
  idleTimeoutMillis: 10_000,
  keepAlive: true,
  application_name: catalogApplicationName,
} satisfies pg.PoolConfig;

/**
 * How PostgreSQL plans the prepared statements (connections.ts) of a pool. The DSN's database asks about roles and
 * databases (the server's facts, the roles, the databases' privileges, the digest), by index whatever the names
 * given, and nothing a write does makes PostgreSQL drop its plans: planned once per connection (generic), where
 * planning each time cost a write 0.8 ms of PostgreSQL's time, more than running them. Without sequential scans:
 * a plan made while the catalogs were small (a new server, or the connection's first reads) read all of
 * pg_shdepend and pg_authid for the rest of the connection's life, 1.6 ms more a write once 800 roles had come,
 * where an index finds the same at any size. A database's contents are planned for the values given each time: a
 * write's GRANT on a schema drops every plan of its database anyway, and a generic plan of the reads that look up
 * a role's ACL entries scanned every database's (0.7 ms more a write among 800 roles).
 */
function planCacheMode(maintenance: boolean): pg.PoolConfig {
  return { options: maintenance ? '-c plan_cache_mode=force_generic_plan -c enable_seqscan=off' : '-c plan_cache_mode=force_custom_plan' };
}

/** How long a statement PostgreSQL refuses inside a transaction (CREATE/DROP DATABASE) may take. */
const slowStatementMs = 5 * 60_000;

/**
 * Whether a connection that met `error` may not be used again: no SQLSTATE came back (it broke, or the client
 * stopped waiting: query_timeout), or the server ended the session.
 */
function unusable(error: unknown): boolean {
  if (!(error instanceof CatalogError)) return isConnectionFault(error);
  return error.sqlstate === undefined || error.sqlstate.startsWith('08') || error.sqlstate === '57P01';
}

/** A statement or lock wait PostgreSQL cancelled on its deadline (catalogDeadlines). */
function timedOut(error: unknown): boolean {
  return error instanceof CatalogError && (error.sqlstate === '57014' || error.sqlstate === '55P03');
}

/** A connection of its own and how to end it (ServerCatalog.dedicatedClient). */
export interface Dedicated {
  client: pg.Client;
  end(): Promise<void>;
}

/** What the catalog asks of a database's connections: queries, and a client of its own for a transaction. */
interface BudgetedPool extends Queryable {
  connect(): Promise<pg.PoolClient>;
}

/** spec.connectionBudget's default (openapi/databasecluster.ts), until the cluster's is known. */
const defaultConnectionBudget = 10;

export class ServerCatalog {
  private readonly pools = new Map<string, pg.Pool>();
  private readonly maintenanceDatabase: string;
  private readonly snapshots = new SharedReads<Snapshot>((scope) => this.readSnapshot(scope));
  /** Plans waiting for the SQL under way on this server to end (applyCoalesced). */
  private readonly coalescing: { plan: Plan; passwords: Passwords; resolve: () => void; reject: (error: unknown) => void }[] = [];
  private draining = false;
  /** The schema of ownership records the last facts found: read beside the next facts. */
  private recordsIn: string | undefined;
  private readonly prepared = new PreparedStatements();
  /** Whether the last snapshot found the connecting user a superuser, whose GRANTs PostgreSQL never refuses in part. */
  private superuser = false;
  /** Whether the connecting user may read pg_authid, and the server's version: asked once, again after a failure. */
  private fingerprintFacts: Promise<FingerprintFacts> | undefined;
  /** The verifier each role's password is set with: made once, before the write's transaction if it asks early. */
  readonly verifiers = new RoleVerifiers();

  constructor(
    private readonly dsn: string,
    private readonly options: ClusterCatalogOptions = {},
  ) {
    this.maintenanceDatabase = databaseOf(dsn);
  }

  /**
   * How many connections this catalog may hold, all databases together (DatabaseCluster spec.connectionBudget):
   * its pools and its connections of their own (dedicatedClient: the drift listeners) share it.
   */
  connectionBudget = defaultConnectionBudget;
  /** New connections being opened now, counted before they show in their pool. */
  private opening = 0;
  /** Connections of their own (dedicatedClient), until they are closed. */
  private dedicated = 0;
  /** Per pool, idle connections callers have been promised and not received yet. */
  private readonly idleClaims = new WeakMap<pg.Pool, number>();
  /** Connections of pools being closed, counted until they are. */
  private closing = 0;
  /** Callers waiting for room in the budget, woken whenever a connection is given back or closed. */
  private readonly waitingForRoom = new Set<() => void>();

  /** A database's pool as the catalog uses it: a query or a checkout that opens a connection waits for room in the budget. */
  private pool(database: string | null): BudgetedPool {
    return {
      connect: () => this.checkout(database),
      query: async <R extends object>(text: string, params?: unknown[]) => {
        const client = await this.checkout(database);
        try {
          // A query with parameters has a text of the code's own: prepared (connections.ts).
          const result = params?.length
            ? await this.prepared.query<R & pg.QueryResultRow>(client, text, params)
            : await client.query<R & pg.QueryResultRow>(text, params);
          client.release();
          return result;
        } catch (error) {
          client.release(error as Error); // as pg's pool.query does: a client that failed is not reused
          throw error;
        }
      },
    };
  }

  private poolOf(database: string | null): pg.Pool {
    const name = database ?? this.maintenanceDatabase;
    let pool = this.pools.get(name);
    if (!pool) {
      pool = guardedPool({
        ...connectionConfig(this.dsn, name),
        ...catalogDeadlines,
        ...planCacheMode(name === this.maintenanceDatabase),
        max: this.options.maxConnections ?? 2,
      });
      pool.on('release', () => this.wake());
      pool.on('remove', (client) => this.closingUntilEnded(client));
      this.pools.set(name, pool);
    }
    return pool;
  }

  /** A connection of the database's pool: an idle one, or a new one once the budget has room for it. */
  private async checkout(database: string | null): Promise<pg.PoolClient> {
    const pool = this.poolOf(database);
    // An idle connection is reused (unless callers before this one have claimed every idle one: the pool would
    // open a new connection for this one); a full pool queues for its own.
    const claimed = this.idleClaims.get(pool) ?? 0;
    if (pool.idleCount > claimed) {
      this.idleClaims.set(pool, claimed + 1);
      return pool.connect().finally(() => this.idleClaims.set(pool, (this.idleClaims.get(pool) ?? 1) - 1));
    }
    if (pool.totalCount >= (this.options.maxConnections ?? 2)) return pool.connect();
    await this.reserve(pool);
    try {
      // While this caller waited, its pool may have been closed to make room for another: a new one then.
      return await this.poolOf(database).connect();
    } finally {
      this.opening -= 1; // the pool counts it now
    }
  }

  /**
   * A connection the pool let go (idle too long, or broken) still holds its server slot until its socket has
   * closed: it counts as closing until then (a second at most, should its end never be told).
   */
  private closingUntilEnded(client: pg.PoolClient): void {
    this.closing += 1;
    let counted = true;
    const ended = () => {
      if (!counted) return;
      counted = false;
      clearTimeout(timer);
      this.closing -= 1;
      this.wake();
    };
    const timer = setTimeout(ended, 1_000);
    client.once('end', ended);
  }

  private wake(): void {
    for (const waiter of this.waitingForRoom) waiter();
  }

  private openConnections(): number {
    return this.dedicated + this.opening + this.closing + [...this.pools.values()].reduce((sum, pool) => sum + pool.totalCount, 0);
  }

  /**
   * Takes room for one more connection in the budget (counted in `opening`), in the same turn as the check that
   * there is some: callers at once never both take the last one. Makes room by closing the pool of another
   * database whose connections are all idle, and waits until it is closed or a connection is given back.
   */
  private async reserve(pool: pg.Pool | undefined): Promise<void> {
    const until = Date.now() + catalogDeadlines.connectionTimeoutMillis;
    for (;;) {
      if (this.openConnections() < this.connectionBudget) {
        this.opening += 1;
        return;
      }
      // A pool being closed counts until its connections are gone; then this waiter is woken.
      const closing = this.closeIdlePool(pool);
      const left = until - Date.now();
      if (left <= 0 && !closing)
        throw new CatalogError(
          'waiting for a connection',
          undefined,
          `all ${this.connectionBudget} connections of the DatabaseCluster's spec.connectionBudget are in use: timeout`,
        );
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waitingForRoom.delete(done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.waitingForRoom.add(done);
      });
    }
  }

  /** Closes the pool of another database whose connections are all idle; whether there was one. */
  private closeIdlePool(keep: pg.Pool | undefined): boolean {
    for (const [name, pool] of this.pools) {
      if (pool === keep || pool.totalCount === 0 || pool.idleCount < pool.totalCount || pool.waitingCount > 0) continue;
      this.pools.delete(name);
      const count = pool.totalCount;
      this.closing += count;
      void pool
        .end()
        .catch(() => undefined)
        .finally(() => {
          this.closing -= count;
          this.wake();
        });
      return true;
    }
    return false;
  }

  /**
   * A snapshot of the scope, live: read at this call or later, never by a read that began before it (a write
   * may have committed in between). Concurrent callers share one read (flights.ts): one that finds a read of
   * its scope running waits for the next, shared with every caller coming meanwhile. A write asks for a
   * `fresh` one, which begins at once.
   */
  snapshot(scope: SnapshotScope, options: { fresh?: boolean } = {}): Promise<Snapshot> {
    return this.snapshots.get(scope, options);
  }

  private readSnapshot(scope: SnapshotScope): Promise<Snapshot> {
    return this.observed('snapshot', this.maintenanceDatabase, () => readSnapshot(this.pool(null), (name) => this.pool(name), scope))
      .then((snapshot) => {
        for (const live of snapshot.databases.values()) if (live.template) this.closePool(live.name);
        this.superuser = snapshot.superuser;
        return snapshot;
      })
      .catch((error: unknown) => {
        throw CatalogError.from(error, 'reading the catalog');
      });
  }

  /**
   * The digest of the managed roles' attributes, passwords (where the user may read them) and memberships, and
   * of the managed databases' privileges, owner and limits (fingerprint.ts): one query in the DSN's database.
   */
  fingerprint(scope: SnapshotScope): Promise<string> {
    return this.observed('fingerprint', this.maintenanceDatabase, async () => {
      const pool = this.pool(null);
      this.fingerprintFacts ??= readFingerprintFacts(pool);
      const facts = this.fingerprintFacts;
      try {
        return await readFingerprint(pool, scope, await facts);
      } catch (error) {
        if (this.fingerprintFacts === facts) this.fingerprintFacts = undefined;
        throw CatalogError.from(error, 'reading the fingerprint of the managed roles and databases');
      }
    });
  }

  /** What the eligibility rules need to know about these names (eligibility.ts). */
  async serverFacts(scope: FactsScope): Promise<ServerFacts> {
    try {
      const { recordsKept, ...facts } = await readServerFacts(this.pool(null), scope, this.recordsIn);
      this.recordsIn = recordsKept ? facts.ownershipSchema : undefined;
      return facts;
    } catch (error) {
      throw CatalogError.from(error, 'reading what the server holds');
    }
  }

  /** Of `databases`, the templates (eligibility.ts). */
  templatesAmong(databases: readonly string[]): Promise<Set<string>> {
    return readTemplates(this.pool(null), databases).catch((error: unknown) => {
      throw CatalogError.from(error, 'reading which databases are templates');
    });
  }

  /**
   * Runs one plan, in order; throws a CatalogError naming the statement that failed and whether some ran before.
   * An isolated statement that fails lets the rest run first; the first such fault is thrown at the end.
   */
  async apply(plan: Plan, passwords: Passwords = new Map()): Promise<void> {
    let applied = false;
    let skipped: CatalogError | undefined;
    for (const batch of batches(plan.statements)) {
      try {
        await this.runOnce(batch, passwords);
        applied = true;
      } catch (error) {
        const fault = CatalogError.from(error, 'applying a plan');
        fault.planPartlyApplied = applied;
        if (!batch.isolated) throw fault;
        skipped ??= fault;
      }
    }
    if (skipped) {
      skipped.planPartlyApplied ||= applied;
      throw skipped;
    }
  }

  /**
   * dryRun=All: runs the plan in transactions that are rolled back, so a dry run meets the faults the write
   * would meet (privileges, conflicts) and changes nothing. Statements PostgreSQL refuses inside a transaction
   * (CREATE/DROP DATABASE) cannot be rehearsed: they are skipped. What an earlier statement would have made (a
   * role, a database) is not there for the later ones, since nothing is kept: their "does not exist" is no
   * fault of the write. A password not known yet is rehearsed as none.
   */
  async rehearse(plan: Plan, passwords: Passwords = new Map()): Promise<void> {
    const known: Passwords = new Map(
      plan.statements.filter((s) => s.passwordOf).map((s) => [s.passwordOf!, passwords.get(s.passwordOf!) ?? null]),
    );
    let created = false;
    for (const batch of batches(plan.statements)) {
      if (batch.transactional) {
        await this.run(batch, known, false, true).catch((error: CatalogError) => {
          const missing = error.sqlstate === '3D000' || error.sqlstate === '42704';
          if (!(created && missing)) throw error;
        });
      }
      created ||= batch.statements.some((s) => s.creates !== undefined);
    }
  }

  /**
   * A write's plan, applied with those of the writes that arrive together (Argo CD, Flux or `kubectl apply` in
   * parallel): a plan that comes while other plans' SQL runs on this server waits for it, then runs with every
   * plan that came meanwhile as one merged batch (applyAll: one transaction per database, one GRANT per object
   * naming every grantee), which costs far less than each alone. Each caller gets its own outcome once its own
   * SQL ran. A plan that comes alone runs at once, as apply runs it.
   */
  applyCoalesced(plan: Plan, passwords: Passwords = new Map()): Promise<void> {
    if (!splitForMerging(plan)) return this.apply(plan, passwords);
    return new Promise((resolve, reject) => {
      this.coalescing.push({ plan, passwords, resolve, reject });
      if (!this.draining) void this.drainCoalesced();
    });
  }

  private async drainCoalesced(): Promise<void> {
    this.draining = true;
    for (let group = this.coalescing.splice(0); group.length > 0; group = this.coalescing.splice(0)) {
      if (group.length === 1) {
        const [alone] = group;
        await this.apply(alone!.plan, alone!.passwords).then(alone!.resolve, alone!.reject);
        continue;
      }
      const results = await this.applyAll(
        group.map((g) => g.plan),
        new Map(group.flatMap((g) => [...g.passwords])),
      ).catch((error: unknown) => group.map(() => CatalogError.from(error, 'applying a plan')));
      group.forEach((g, i) => (results[i] ? g.reject(results[i]) : g.resolve()));
    }
    this.draining = false;
  }

  /**
   * Runs many plans at once: every plan's role-level statements in one transaction, then per database one
   * transaction with their GRANTs and REVOKEs merged (one statement per object naming every grantee), each
   * sent as one query. A merged batch that fails is retried plan by plan, so one bad object never blocks the
   * others. Returns one result per plan: undefined when it was applied.
   */
  async applyAll(plans: readonly Plan[], passwords: Passwords = new Map()): Promise<(CatalogError | undefined)[]> {
    const results: (CatalogError | undefined)[] = plans.map(() => undefined);
    const record = (plan: number) => (error: unknown) => {
      results[plan] = CatalogError.from(error, 'applying a plan');
    };
    const heads: Part[] = [];
    const inDatabases = new Map<string, Part[]>();
    for (const [i, plan] of plans.entries()) {
      const split = splitForMerging(plan);
      if (!split) {
        await this.apply(plan, passwords).catch(record(i)); // not of the mergeable shape: runs alone
        continue;
      }
      if (split.head.length > 0) heads.push({ plan: i, statements: split.head });
      for (const [database, statements] of split.byDatabase)
        inDatabases.set(database, [...(inDatabases.get(database) ?? []), { plan: i, statements }]);
    }
    const failed = await this.runMerged(null, heads, passwords, record);
    await Promise.all(
      [...inDatabases].map(([database, parts]) =>
        this.runMerged(
          database,
          parts.filter((p) => !failed.has(p.plan)),
          passwords,
          record,
        ),
      ),
    );
    return results;
  }

  /** Runs the parts as one transaction and one query; on failure, part by part. Returns the parts that failed. */
  private async runMerged(
    database: string | null,
    parts: Part[],
    passwords: Passwords,
    record: (plan: number) => (error: unknown) => void,
  ): Promise<Set<number>> {
    const failed = new Set<number>();
    if (parts.length === 0) return failed;
    try {
      await this.run({ database, transactional: true, statements: mergeGrants(parts.flatMap((p) => p.statements)) }, passwords, true);
    } catch {
      for (const part of parts) {
        await this.run({ database, transactional: true, statements: part.statements }, passwords).catch((error: unknown) => {
          failed.add(part.plan);
          record(part.plan)(error);
        });
      }
    }
    return failed;
  }

  /**
   * A transaction in one round trip (and its COMMIT); where it fails, once more statement by statement, so that
   * the error names the statement (a fault that may not pass twice within a deadline is not tried again).
   */
  private async runOnce(batch: Batch, passwords: Passwords): Promise<void> {
    if (!batch.transactional) return this.run(batch, passwords);
    try {
      await this.run(batch, passwords, true);
    } catch (error) {
      if (batch.statements.length === 1 || unusable(error) || timedOut(error) || (error as CatalogError).planPartlyApplied) throw error;
      await this.run(batch, passwords);
    }
  }

  /** Times `work` for the observer, when there is one. */
  private async observed<T>(kind: CatalogEvent['kind'], database: string, work: () => Promise<T>): Promise<T> {
    const observe = this.options.observe;
    if (!observe) return work();
    const started = performance.now();
    let ok = false;
    try {
      const result = await work();
      ok = true;
      return result;
    } finally {
      observe({ kind, database, seconds: (performance.now() - started) / 1000, ok });
    }
  }

  private run(batch: Batch, passwords: Passwords, asOneQuery = false, rollback = false): Promise<void> {
    return this.observed('batch', batch.database ?? this.maintenanceDatabase, () => this.runBatch(batch, passwords, asOneQuery, rollback));
  }

  /**
   * One transaction; statements one by one (errors name the statement) or, `asOneQuery`, in one round trip;
   * with `rollback`, undone at the end.
   */
  private async runBatch(batch: Batch, passwords: Passwords, asOneQuery: boolean, rollback: boolean): Promise<void> {
    const database = batch.database ?? this.maintenanceDatabase;
    const client = await this.pool(batch.database)
      .connect()
      .catch((error: unknown) => {
        throw CatalogError.from(error, `connecting to database ${database}`);
      });
    let broken: Error | undefined;
    const begin = batch.transactional ? ['BEGIN', ...(batch.statements.some((s) => s.grant) ? [lockAcls] : [])] : [];
    // A GRANT PostgreSQL refuses in part is a notice (01007), not an error: its COMMIT waits for the answer, unless
    // none of the statements can be refused so (none grants, or a superuser grants, for whom none ever is).
    const commitWith = asOneQuery && !rollback && batch.transactional && (this.superuser || !batch.statements.some((s) => s.grant));
    try {
      // Passwords are hashed in parallel, off the main thread (a write has them made before it gets here).
      const prepared = await Promise.all(batch.statements.map((s) => this.prepare(database, s, passwords)));
      if (asOneQuery) {
        // BEGIN and the statements in one round trip, and COMMIT too where no statement can be refused by a notice.
        const [only] = batch.statements.length === 1 ? batch.statements : [];
        await query(
          client,
          [...begin, ...prepared.map((p) => p.sql), ...(commitWith ? ['COMMIT'] : [])].join(';\n'),
          only?.description ?? `applying ${prepared.length} statements in database ${database}`,
          prepared.flatMap((p) => p.secrets),
          only?.faults,
        ).catch((error: unknown) => {
          // Refused by a notice after all (the user is no superuser any more): committed, and not to be run again.
          if (commitWith && error instanceof CatalogError && refusedByNotice(error)) error.planPartlyApplied = true;
          throw error;
        });
      } else {
        for (const sql of begin) await client.query(sql);
        // Outside a transaction, a statement copies or removes a database's files: it gets longer than the default.
        if (!batch.transactional) await client.query(`SET statement_timeout = ${slowStatementMs}`);
        for (const [i, p] of prepared.entries()) {
          const { description, faults } = batch.statements[i]!;
          await query(client, p.sql, description, p.secrets, faults, batch.transactional ? undefined : slowStatementMs + 5_000);
        }
        if (!batch.transactional) await client.query('RESET statement_timeout');
      }
      if (batch.transactional && !commitWith) await client.query(rollback ? 'ROLLBACK' : 'COMMIT');
    } catch (error) {
      // A connection that timed out on our side or broke is in no known state: it is closed, not rolled back.
      if (unusable(error)) broken = error as Error;
      else if (batch.transactional) await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      else await client.query('RESET statement_timeout').catch((e: Error) => (broken = e));
      throw error;
    } finally {
      client.release(broken);
    }
  }

  /** Logs the statement, then attaches its password clause: the log never sees a secret. */
  private async prepare(database: string, s: Statement, passwords: Passwords): Promise<{ sql: string; secrets: string[] }> {
    this.options.log?.({ database, sql: s.passwordOf ? `${s.sql} PASSWORD <redacted>` : s.sql, description: s.description });
    if (!s.passwordOf) return { sql: s.sql, secrets: [] };
    const password = passwords.get(s.passwordOf);
    if (password === undefined) throw new CatalogError(s.description, undefined, 'no password was given for the role');
    if (password === null) return { sql: `${s.sql} PASSWORD NULL`, secrets: [] };
    const verifier = await this.verifiers.verifierOf(s.passwordOf, password);
    return { sql: `${s.sql} PASSWORD ${quoteLiteral(verifier)}`, secrets: [password, verifier] };
  }

  /** Our event triggers (drifttrigger.ts) in each of `databases` that exists and takes connections. */
  async driftTriggers(databases: readonly string[]): Promise<Map<string, DatabaseTriggers>> {
    const { rows } = await this.pool(null)
      .query<{ name: string }>('SELECT datname AS name FROM pg_catalog.pg_database WHERE datname = ANY($1) AND datallowconn', [databases])
      .catch((error: unknown) => {
        throw CatalogError.from(error, 'listing the databases that may have event triggers');
      });
    return new Map(
      await Promise.all(
        rows.map(async ({ name }): Promise<[string, DatabaseTriggers]> => {
          try {
            return [name, await readDriftTriggers(this.pool(name))];
          } catch (error) {
            return [name, { error: CatalogError.from(error, `reading the event triggers of database ${quoteIdent(name)}`).message }];
          }
        }),
      ),
    );
  }

  /**
   * Installs our event triggers in `database` where they are missing (drifttrigger.ts); true when something was
   * installed. Only a superuser may: anyone else gets a PermissionDenied CatalogError.
   */
  async installDriftTriggers(database: string): Promise<boolean> {
    const present = await readDriftTriggers(this.pool(database)).catch((error: unknown) => {
      throw CatalogError.from(error, `reading the event triggers of database ${quoteIdent(database)}`);
    });
    const plan = planDriftTriggers(database, present);
    if (plan.statements.length === 0) return false;
    await this.apply(plan);
    return true;
  }

  /**
   * Removes what installDriftTriggers made from a database no longer managed; true when something was removed.
   * A database that is gone, a template or one that takes no connections is left alone.
   */
  async removeDriftTriggers(database: string): Promise<boolean> {
    const { rows } = await this.pool(null)
      .query<{ reachable: boolean }>(
        'SELECT datallowconn AND NOT datistemplate AS reachable FROM pg_catalog.pg_database WHERE datname = $1',
        [database],
      )
      .catch((error: unknown) => {
        throw CatalogError.from(error, `looking up database ${quoteIdent(database)}`);
      });
    if (rows[0]?.reachable !== true) return false;
    const present = await driftInstallPresent(this.pool(database)).catch((error: unknown) => {
      throw CatalogError.from(error, `reading the event triggers of database ${quoteIdent(database)}`);
    });
    if (!present) return false;
    await this.apply(planDriftTriggersRemoval(database));
    return true;
  }

  /**
   * A connection of its own to one database, outside the pools (LISTEN needs one that stays open), once the
   * budget has room for it. The caller ends it with `end`, which gives its room back once it is closed.
   */
  async dedicatedClient(database: string): Promise<Dedicated> {
    await this.reserve(undefined);
    this.opening -= 1;
    this.dedicated += 1;
    const client = guardedClient({
      ...connectionConfig(this.dsn, database),
      application_name: 'postgres-apiserver drift listener',
      keepAlive: true,
    });
    let ended: Promise<void> | undefined;
    const end = () =>
      (ended ??= client
        .end()
        .catch(() => undefined)
        .finally(() => {
          this.dedicated -= 1;
          this.wake();
        }));
    return { client, end };
  }

  /** Connection counts of every pool opened so far. */
  poolStats(): PoolStats[] {
    return [...this.pools].map(([database, pool]) => ({
      database,
      total: pool.totalCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
    }));
  }

  /** A database that became a template keeps no idle connection of ours. */
  private closePool(database: string): void {
    const pool = this.pools.get(database);
    if (!pool || database === this.maintenanceDatabase) return;
    this.pools.delete(database);
    void pool.end().catch(() => undefined);
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.end()));
    this.pools.clear();
  }
}
