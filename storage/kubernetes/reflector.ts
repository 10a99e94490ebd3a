// A watch of one kind across the cluster that goes on where it left off, as client-go's reflectors do: it starts
// from the resourceVersion of a list, resumes from the last resourceVersion it saw (bookmarks keep it recent), is
// renewed every 5 to 10 minutes, and after an ERROR event (410 Gone: too old to resume) starts again from a new
// list. It says when a watch is open: only then is every change told as it happens.
import type { Watch } from '@kubernetes/client-node';
import { keepWatching } from '../../lib/rewatch.ts';
import type { KubeObject } from '../../openapi/objects.ts';

export interface Reflected {
  /** Lists the kind and answers the list's resourceVersion; `again` after a gap no watch could replay. */
  list(again: boolean): Promise<string | undefined>;
  /** An object ADDED, MODIFIED or DELETED. */
  changed(type: string, object: KubeObject): void;
  /** Whether a watch is open now. */
  open(now: boolean): void;
  /** A failure the watch recovers from by itself, with backoff; `failures` in a row. */
  failed(error: unknown, failures: number): void;
}

export function reflect(watch: Watch, path: string, reflected: Reflected): { stop(): void } {
  let resourceVersion: string | undefined;
  let listed = false;
  const onEvent = (type: string, object: KubeObject) => {
    if (type === 'ERROR') {
      resourceVersion = undefined;
      reflected.open(false);
      return;
    }
    resourceVersion = object.metadata.resourceVersion;
    if (type !== 'BOOKMARK') reflected.changed(type, object);
  };
  return keepWatching(async (ended) => {
    if (resourceVersion === undefined) {
      resourceVersion = await reflected.list(listed);
      listed = true;
    }
    const query = { resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 300 + Math.floor(Math.random() * 300) };
    const controller = await watch.watch(path, query, onEvent, (error: unknown) => {
      reflected.open(false);
      ended(error ?? undefined);
    });
    reflected.open(true);
    return () => {
      reflected.open(false);
      controller.abort();
    };
  }, reflected.failed);
}
