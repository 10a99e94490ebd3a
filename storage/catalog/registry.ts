// One ServerCatalog per DSN, shared by every request and loop that talks to that server, so pools and
// coalesced snapshots are shared too. A changed DSN (rotated password) gets a new catalog; the old one closes.
import { ServerCatalog, type ClusterCatalogOptions, type PoolStats } from './server.ts';

export class CatalogRegistry {
  private readonly byCluster = new Map<string, { dsn: string; catalog: ServerCatalog }>();

  constructor(private readonly options: ClusterCatalogOptions = {}) {}

  /** The catalog for a DatabaseCluster's current DSN, within its connection budget (spec.connectionBudget). */
  catalogFor(cluster: string, dsn: string, connectionBudget?: number): ServerCatalog {
    const current = this.byCluster.get(cluster);
    const catalog = current?.dsn === dsn ? current.catalog : new ServerCatalog(dsn, this.options);
    if (current && current.catalog !== catalog) void current.catalog.close();
    this.byCluster.set(cluster, { dsn, catalog });
    if (connectionBudget !== undefined) catalog.connectionBudget = connectionBudget;
    return catalog;
  }

  /** Connection counts of every catalog's pools, by DatabaseCluster name. */
  poolStats(): (PoolStats & { cluster: string })[] {
    return [...this.byCluster].flatMap(([cluster, { catalog }]) => catalog.poolStats().map((stats) => ({ cluster, ...stats })));
  }

  async close(): Promise<void> {
    await Promise.all([...this.byCluster.values()].map(({ catalog }) => catalog.close()));
    this.byCluster.clear();
  }
}
