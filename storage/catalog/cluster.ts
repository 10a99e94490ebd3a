// One PostgreSQL server (a DatabaseCluster): a pool per database, coalesced snapshots, and plans applied one
// transaction per database, serialized per database so concurrent GRANTs never collide.
import pg from 'pg';
import { connectionConfig, databaseOf } from './dsn.ts';
import { CatalogError } from './errors.ts';
import { quoteLiteral } from './identifiers.ts';
import type { Plan } from './plan.ts';
import { scramVerifier } from './scram.ts';
import { readSnapshot, type Snapshot, type SnapshotScope } from './snapshot.ts';
import { mergeGrants, type Statement } from './statements.ts';

/** Called before a statement runs; it never carries a secret. */
export type StatementLog = (entry: { database: string; sql: string; description: string }) => void;

/** role → its password (null for none); consulted only by statements that set a password. */
export type Passwords = ReadonlyMap<string, string | null>;

export interface ClusterCatalogOptions {
  /** Connections per database pool. */
  maxConnections?: number;
  log?: StatementLog;
}

// Held for the length of a transaction that changes ACLs in a database, by every replica of this server:
// PostgreSQL fails concurrent updates of one ACL with "tuple concurrently updated".
const aclLockKey = 0x70675f61636cn;

interface Batch {
  database: string | null;
  transactional: boolean;
  statements: Statement[];
}

/** Consecutive statements for one database form one transaction; others run alone. */
function batches(statements: readonly Statement[]): Batch[] {
  const result: Batch[] = [];
  for (const s of statements) {
    const last = result.at(-1);
    if (last && s.transactional && last.transactional && last.database === s.database) last.statements.push(s);
    else result.push({ database: s.database, transactional: s.transactional, statements: [s] });
  }
  return result;
}

export class ClusterCatalog {
  private readonly pools = new Map<string, pg.Pool>();
  private readonly maintenanceDatabase: string;
  private readonly inflightSnapshots = new Map<string, Promise<Snapshot>>();

  constructor(
    private readonly dsn: string,
    private readonly options: ClusterCatalogOptions = {},
  ) {
    this.maintenanceDatabase = databaseOf(dsn);
  }

  private pool(database: string | null): pg.Pool {
    const name = database ?? this.maintenanceDatabase;
    let pool = this.pools.get(name);
    if (!pool) {
      pool = new pg.Pool({
        ...connectionConfig(this.dsn, name),
        max: this.options.maxConnections ?? 2,
        idleTimeoutMillis: 10_000,
        application_name: 'postgres-apiserver',
        lock_timeout: 10_000,
      });
      // An idle connection that breaks is replaced on next use; the error must not crash the process.
      pool.on('error', () => undefined);
      this.pools.set(name, pool);
    }
    return pool;
  }

  /** A snapshot of the scope; concurrent callers asking for the same scope share one read. */
  snapshot(scope: SnapshotScope): Promise<Snapshot> {
    const key = JSON.stringify([[...scope.roles].sort(), [...scope.databases].sort()]);
    let inflight = this.inflightSnapshots.get(key);
    if (!inflight) {
      inflight = readSnapshot(this.pool(null), (name) => this.pool(name), scope)
        .catch((error: unknown) => {
          throw CatalogError.from(error, 'reading the catalog');
        })
        .finally(() => this.inflightSnapshots.delete(key));
      this.inflightSnapshots.set(key, inflight);
    }
    return inflight;
  }

  /** Runs one plan, in order; throws a CatalogError naming the statement that failed. */
  async apply(plan: Plan, passwords: Passwords = new Map()): Promise<void> {
    for (const batch of batches(plan.statements)) await this.run(batch, passwords);
  }

  /**
   * Runs many plans, merging their per-database GRANTs and REVOKEs into one transaction per database (one
   * statement per object naming every grantee). Returns one result per plan: undefined when it was applied.
   * A failing merged batch is retried plan by plan, so one bad object never blocks the others.
   */
  async applyAll(plans: readonly Plan[], passwords: Passwords = new Map()): Promise<(CatalogError | undefined)[]> {
    const results: (CatalogError | undefined)[] = plans.map(() => undefined);
    const record = (i: number) => (error: unknown) => {
      results[i] = CatalogError.from(error, 'applying a plan');
    };
    const inDatabases = new Map<string, { plan: number; statements: Statement[] }[]>();
    for (const [i, plan] of plans.entries()) {
      const firstInDatabase = plan.statements.findIndex((s) => s.database !== null);
      const rest = firstInDatabase < 0 ? [] : plan.statements.slice(firstInDatabase);
      if (rest.some((s) => s.database === null || !s.transactional)) {
        await this.apply(plan, passwords).catch(record(i)); // not of the mergeable shape: runs alone
        continue;
      }
      const head = firstInDatabase < 0 ? plan.statements : plan.statements.slice(0, firstInDatabase);
      try {
        for (const batch of batches(head)) await this.run(batch, passwords);
      } catch (error) {
        record(i)(error);
        continue;
      }
      for (const s of rest) {
        const list = inDatabases.get(s.database!) ?? [];
        if (list.at(-1)?.plan !== i) list.push({ plan: i, statements: [] });
        list.at(-1)!.statements.push(s);
        inDatabases.set(s.database!, list);
      }
    }
    await Promise.all(
      [...inDatabases].map(async ([database, parts]) => {
        const merged = mergeGrants(parts.flatMap((p) => p.statements));
        try {
          await this.run({ database, transactional: true, statements: merged }, passwords);
        } catch {
          for (const part of parts) await this.run({ database, transactional: true, statements: part.statements }, passwords).catch(record(part.plan));
        }
      }),
    );
    return results;
  }

  private async run(batch: Batch, passwords: Passwords): Promise<void> {
    const client = await this.pool(batch.database).connect().catch((error: unknown) => {
      throw CatalogError.from(error, `connecting to database ${batch.database ?? this.maintenanceDatabase}`);
    });
    let broken: Error | undefined;
    try {
      if (batch.transactional) {
        await client.query('BEGIN');
        if (batch.statements.some((s) => s.grant)) await client.query('SELECT pg_advisory_xact_lock($1)', [aclLockKey.toString()]);
      }
      for (const s of batch.statements) await this.execute(client, batch.database, s, passwords);
      if (batch.transactional) await client.query('COMMIT');
    } catch (error) {
      if (batch.transactional) await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw error;
    } finally {
      client.release(broken);
    }
  }

  private async execute(client: pg.PoolClient, database: string | null, s: Statement, passwords: Passwords): Promise<void> {
    this.options.log?.({ database: database ?? this.maintenanceDatabase, sql: s.passwordOf ? `${s.sql} PASSWORD <redacted>` : s.sql, description: s.description });
    const secrets: string[] = [];
    let sql = s.sql;
    if (s.passwordOf) {
      const password = passwords.get(s.passwordOf);
      if (password === undefined) throw new CatalogError(s.description, undefined, 'no password was given for the role');
      if (password === null) {
        sql += ' PASSWORD NULL';
      } else {
        const verifier = scramVerifier(password);
        secrets.push(password, verifier);
        sql += ` PASSWORD ${quoteLiteral(verifier)}`;
      }
    }
    // GRANT and REVOKE without the right to do it only warn; a plan that did nothing must not pass for done.
    const refusals: { code?: string; message?: string }[] = [];
    const onNotice = (notice: { code?: string; message?: string }) => {
      if (notice.code === '01007' || notice.code === '01006') refusals.push(notice);
    };
    client.on('notice', onNotice);
    try {
      await client.query(sql);
    } catch (error) {
      throw CatalogError.from(error, s.description, secrets);
    } finally {
      client.off('notice', onNotice);
    }
    if (refusals.length > 0) throw new CatalogError(s.description, refusals[0]!.code, refusals.map((n) => n.message).join('; '));
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.end()));
    this.pools.clear();
  }
}
