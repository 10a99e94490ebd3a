// Local mode started in-process on a free port with its own data folder, for kubectl-driven tests.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startLocalMode, type LocalMode } from '../../apiserver/local.ts';
import { guideManifests } from './guide.ts';
import { kubectl } from './kubectl.ts';

export interface LocalServer extends LocalMode {
  dataDir: string;
  kubectl(args: string[], input?: string): ReturnType<typeof kubectl>;
  /** Stops the server and starts it again on the same data folder. */
  restart(): Promise<LocalServer>;
}

export async function startLocal(dataDir = mkdtempSync(join(tmpdir(), 'local-')), options: { storeDsn?: string } = {}): Promise<LocalServer> {
  chmodSync(dataDir, 0o755); // as root, PostgreSQL runs as nobody, who must reach the folder inside
  const local = await startLocalMode({ dataDir, port: 0, resyncIntervalMs: 500, log: pino({ level: 'silent' }), ...options });
  const cache = join(dataDir, 'kube-cache');
  return {
    ...local,
    dataDir,
    kubectl: (args, input) => kubectl(local.kubeconfig, args, input, { KUBECACHEDIR: cache }),
    restart: async () => {
      await local.stop();
      return startLocal(dataDir, options);
    },
    stop: async () => {
      await local.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Local mode with the usage guide's manifests applied by kubectl. */
export async function startLocalWithGuide(): Promise<LocalServer> {
  const local = await startLocal();
  const applied = await local.kubectl(['apply', '-f', '-'], guideManifests(local.postgresDsn));
  if (applied.code !== 0) {
    await local.stop();
    throw new Error(`kubectl apply of the guide failed: ${applied.stderr}`);
  }
  return local;
}

export { guideManifests };

/** Polls until `check` holds (the reconciler runs every 500 ms here); false when `ms` pass first. */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    if (await check()) return true;
  }
  return false;
}
