// Local mode started in-process on a free port with its own data folder, for kubectl-driven tests.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startLocalMode, type LocalMode } from '../../apiserver/local.ts';
import { kubectl } from './kubectl.ts';

export interface LocalServer extends LocalMode {
  dataDir: string;
  kubectl(args: string[], input?: string): ReturnType<typeof kubectl>;
  /** Stops the server and starts it again on the same data folder. */
  restart(): Promise<LocalServer>;
}

export async function startLocal(dataDir = mkdtempSync(join(tmpdir(), 'local-'))): Promise<LocalServer> {
  chmodSync(dataDir, 0o755); // as root, PostgreSQL runs as nobody, who must reach the folder inside
  const local = await startLocalMode({ dataDir, port: 0, statusIntervalMs: 500, log: pino({ level: 'silent' }) });
  const cache = join(dataDir, 'kube-cache');
  return {
    ...local,
    dataDir,
    kubectl: (args, input) => kubectl(local.kubeconfig, args, input, { KUBECACHEDIR: cache }),
    restart: async () => {
      await local.stop();
      return startLocal(dataDir);
    },
    stop: async () => {
      await local.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

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
