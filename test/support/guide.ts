// The usage guide's manifests (seed-usage-guide.md), verbatim but for the DSN: they must validate and keep working.
import { parseAllDocuments } from 'yaml';

/** The usage guide's Steps 1–4, verbatim but for the DSN. */
export function guideManifests(dsn: string): string {
  return `apiVersion: v1
kind: Secret
metadata:
  name: postgres-connection
  namespace: default
type: Opaque
stringData:
  # Format: postgres://user:password@host:port/dbname?sslmode=disable
  connection: "${dsn}"
---
apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseCluster
metadata:
  name: main-cluster
spec:
  connection:
    name: postgres-connection
    namespace: default
---
apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: Database
metadata:
  name: my-app-db
  namespace: default
spec:
  name: my_app_db_production  # Actual DB name in Postgres
  schema: public
  databaseClusterRef:
    name: main-cluster
  databaseServiceName: my-app-db-svc # Optional: Creates a K8s service for this DB
---
apiVersion: v1
kind: Secret
metadata:
  name: app-user-password
  namespace: default
type: Opaque
stringData:
  password: "strong-password-here"
---
apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseRole
metadata:
  name: app-user
  namespace: default
spec:
  roleName: my_app_user
  password:
    name: app-user-password
    key: password
  databaseClusterRef:
    name: main-cluster
  permissions:
    - database: my_app_db_production
      schemas:
        - name: public
          privileges: ["USAGE", "CREATE"]
          tables:
            - name: "*" # All tables
              privileges: ["SELECT", "INSERT", "UPDATE", "DELETE"]
`;
}

/** The guide's objects of our kinds, parsed. */
function guideObject(kind: string): Record<string, unknown> {
  const object = parseAllDocuments(guideManifests('postgres://postgres:password@postgres-host:5432/postgres?sslmode=disable'))
    .map((d) => d.toJS() as Record<string, unknown>)
    .find((o) => o.kind === kind);
  return object!;
}

export const guideCluster = guideObject('DatabaseCluster');
export const guideDatabase = guideObject('Database');
export const guideRole = guideObject('DatabaseRole');
