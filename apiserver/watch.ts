// Watch (K8S-WIRE §4): newline-delimited events over a chunked 200, initial events and bookmarks, resume from
// a resourceVersion, 410 Expired as an ERROR event, Table-encoded events for kubectl get -w, metadata-only events
// for metadata informers.
import { PassThrough } from 'node:stream';
import type Koa from 'koa';
import { watchTimeoutSeconds } from './parameters.ts';
import { apiVersionOf, selectableFieldNames, selectableFields, storeResource, type ResourceKind } from '../reconcile/kinds/resource.ts';
import { fieldSelector, labelSelector } from './selectors.ts';
import { StatusError } from '../openapi/status.ts';
import { includeObjectOf, toTable } from './table.ts';
import { asPartialObjectMetadata, representationOf } from './representation.ts';
import type { KubeObject } from '../openapi/objects.ts';
import type { ResourceStore } from '../storage/objects/types.ts';
import { fromStoreError } from '../storage/objects/errors.ts';

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

const bookmarkInterval = 60_000;
const defaultTimeoutSeconds = 1800;

function invalidParameter(field: string, why: string): StatusError {
  return new StatusError('Invalid', `${field}: Forbidden: ${why}`, {
    causes: [{ reason: 'FieldValueForbidden', message: `Forbidden: ${why}`, field }],
  });
}

/** The parameter rules kube-apiserver checks for a watch (apimachinery internalversion validation). */
function checkParameters(query: Koa.Context['query']): { sendInitialEvents: boolean } {
  const sendInitialEvents = query.sendInitialEvents === 'true';
  const match = query.resourceVersionMatch;
  if (sendInitialEvents && match !== 'NotOlderThan') {
    throw invalidParameter('sendInitialEvents', 'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan');
  }
  if (match !== undefined && !sendInitialEvents) {
    throw invalidParameter('resourceVersionMatch', 'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided');
  }
  return { sendInitialEvents };
}

/** The watches an app serves, each by what ends it: a server that stops ends them first (endWatches). */
const openWatches = new WeakMap<Koa, Set<() => void>>();

function openWatchesOf(app: Koa): Set<() => void> {
  const open = openWatches.get(app) ?? new Set<() => void>();
  openWatches.set(app, open);
  return open;
}

/**
 * Ends every watch the app serves, as kube-apiserver does when it shuts down: each response ends cleanly and its
 * client watches again (through another replica) from the last resourceVersion it saw.
 */
export function endWatches(app: Koa): void {
  for (const end of [...openWatchesOf(app)]) end();
}

export async function serveWatch(
  ctx: Koa.Context,
  kind: ResourceKind,
  store: ResourceStore,
  namespace: string,
  present: (objects: KubeObject[]) => Promise<KubeObject[]>,
): Promise<void> {
  const { sendInitialEvents } = checkParameters(ctx.query);
  const timeoutSeconds = watchTimeoutSeconds(ctx.query) || defaultTimeoutSeconds;
  const matchesLabels = labelSelector(ctx.query.labelSelector as string | undefined);
  const matchesFields = fieldSelector(ctx.query.fieldSelector as string | undefined, selectableFieldNames(kind));
  const selected = (o: KubeObject) =>
    (!namespace || o.metadata.namespace === namespace) &&
    matchesLabels((o.metadata.labels ?? {}) as Record<string, string>) &&
    matchesFields(selectableFields(kind, o));
  // Table events for kubectl get -w; PartialObjectMetadata events for metadata informers. PartialObjectMetadataList
  // has no meaning for one event: kube-apiserver then sends the objects themselves, and so does this.
  const representation = representationOf(ctx.get('accept'));
  const asTable = representation.as === 'Table';
  const tableVersion = representation.as === 'Table' ? representation.groupVersion : undefined;
  const metadataOnly = representation.as === 'PartialObjectMetadata' ? representation.groupVersion : undefined;
  // TableOptions mean something, and are checked, only for a Table (kube-apiserver's optionsForTransform).
  const include = asTable ? includeObjectOf(ctx.query.includeObject as string | undefined) : 'None';
  const resource = storeResource(kind);
  const requested = ctx.query.resourceVersion as string | undefined;

  // Initial state first when asked for (no resourceVersion, "0", or sendInitialEvents).
  const initial =
    !requested || requested === '0' || sendInitialEvents
      ? await store.list(resource, { namespace }).catch((e: unknown) => {
          throw fromStoreError(e);
        })
      : undefined;

  const stream = new PassThrough();
  let columnsSent = false;
  let lastResourceVersion = initial?.resourceVersion ?? requested ?? '';
  const write = (type: EventType, object: unknown) => {
    if (!stream.writable) return;
    stream.write(`${JSON.stringify({ type, object })}\n`);
  };
  const writeObject = (type: EventType, object: KubeObject) => {
    if (metadataOnly) return write(type, asPartialObjectMetadata(object, metadataOnly));
    if (!asTable) return write(type, object);
    write(
      type,
      toTable(kind.columns, [object], {
        include,
        groupVersion: tableVersion,
        withColumns: !columnsSent,
        metadata: { resourceVersion: String(object.metadata.resourceVersion ?? '') },
      }),
    );
    columnsSent = true;
  };
  const bookmark = (annotations?: Record<string, string>) => {
    const metadata = { resourceVersion: lastResourceVersion, ...(annotations ? { annotations } : {}) };
    if (metadataOnly) return write('BOOKMARK', { kind: 'PartialObjectMetadata', apiVersion: metadataOnly, metadata });
    write('BOOKMARK', { kind: asTable ? 'Table' : kind.kind, apiVersion: tableVersion ?? apiVersionOf(kind), metadata });
  };

  ctx.req.socket.setTimeout(0);
  ctx.status = 200;
  ctx.set('Content-Type', 'application/json');
  ctx.set('Transfer-Encoding', 'chunked');
  ctx.body = stream;
  // Clients wait for the response headers before they count the watch as started: send them now, not with
  // the first event, which may be minutes away.
  ctx.flushHeaders();

  for (const object of await present((initial?.items ?? []).filter(selected))) writeObject('ADDED', object);
  if (sendInitialEvents) bookmark({ 'k8s.io/initial-events-end': 'true' });

  const timers: NodeJS.Timeout[] = [];
  let unsubscribe: (() => void) | undefined;
  const open = openWatchesOf(ctx.app);
  const end = () => {
    open.delete(end);
    unsubscribe?.();
    for (const timer of timers) clearTimeout(timer);
    stream.end();
  };
  const fail = (error: unknown) => {
    const status = fromStoreError(error);
    if (status instanceof StatusError) write('ERROR', status.toStatus());
    end();
  };
  open.add(end);
  ctx.req.on('close', end);
  timers.push(setTimeout(end, timeoutSeconds * 1000));
  if (ctx.query.allowWatchBookmarks === 'true') timers.push(setInterval(() => bookmark(), bookmarkInterval));
  try {
    unsubscribe = await store.watch(
      (change) => {
        lastResourceVersion = change.resourceVersion;
        if (!selected(change.object)) return;
        void present([change.object]).then(([object]) => writeObject(change.type, object!), fail);
      },
      { resourceVersion: lastResourceVersion, resource, onError: fail },
    );
    if (stream.writableEnded) unsubscribe();
  } catch (error) {
    fail(error);
  }
}
