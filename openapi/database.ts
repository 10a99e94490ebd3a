// The Database kind (API.md). For now the TypeScript shape of its spec; the schema joins it here.

export interface DatabaseSpec {
  /** The database's name in PostgreSQL; immutable. */
  name: string;
  /** The schema to ensure exists; default "public". */
  schema?: string;
  databaseClusterRef: { name: string };
  databaseServiceName?: string;
  owner?: string;
  schemas?: string[];
  extensions?: string[];
  encoding?: string;
  lcCollate?: string;
  lcCtype?: string;
  template?: string;
  connectionLimit?: number;
  reclaimPolicy?: 'Retain' | 'Delete';
}
