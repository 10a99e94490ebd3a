// The DatabaseRole kind (API.md). For now the TypeScript shape of its spec; the schema joins it here.

export interface ObjectPermission {
  /** An object's name, or "*" for every object of the schema, now and later. */
  name: string;
  privileges: string[];
}

export interface SchemaPermission {
  name: string;
  /** Schema privileges; default [USAGE]. */
  privileges?: string[];
  tables?: ObjectPermission[];
  sequences?: ObjectPermission[];
  functions?: ObjectPermission[];
}

export interface DatabasePermission {
  database: string;
  /** Database privileges; default [CONNECT]. */
  privileges?: string[];
  schemas?: SchemaPermission[];
}

export interface DatabaseRoleSpec {
  roleName: string;
  password?: { name: string; key?: string; generate?: boolean };
  connectionSecret?: { name: string; database: string };
  databaseClusterRef: { name: string };
  permissions?: DatabasePermission[];
  login?: boolean;
  connectionLimit?: number;
  validUntil?: string;
  inherit?: boolean;
  createdb?: boolean;
  memberOf?: string[];
  reclaimPolicy?: 'Retain' | 'Delete';
}
