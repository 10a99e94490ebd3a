// The usage guide's manifests (seed-usage-guide.md), verbatim: they must validate and keep working.
import { parse } from 'yaml';

export const guideCluster = parse(`
apiVersion: postgres.databases.dinhloc.dev/v1alpha1
kind: DatabaseCluster
metadata:
  name: main-cluster
spec:
  connection:
    name: postgres-connection
    namespace: default
`) as Record<string, unknown>;

export const guideDatabase = parse(`
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
`) as Record<string, unknown>;

export const guideRole = parse(`
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
`) as Record<string, unknown>;
