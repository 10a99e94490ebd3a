// Events (core v1) about our objects: changes applied (statements summarised by their descriptions, which
// never hold a secret), drift found, and failures. `kubectl describe` lists them. Local mode keeps them in
// its store; in a cluster they go to the cluster.
import { createHash, randomBytes } from 'node:crypto';
import type { KubeObject } from '../../openapi/objects.ts';
import type { ResourceStore } from '../objects/types.ts';
import { rfc3339 } from '../../lib/time.ts';
import { afterThisTurn, within } from '../../lib/promises.ts';

export type EventType = 'Normal' | 'Warning';

/** Sends one Event; sending never fails the work it reports on. */
export interface EventRecorder {
  record(object: KubeObject, type: EventType, reason: string, message: string): Promise<void>;
}

/**
 * What the kinds record through: `record` returns at once and the Events are sent in order in the background, as
 * client-go's recorder sends them, so that no write waits for its Event to be stored.
 */
export interface EventSink {
  record(object: KubeObject, type: EventType, reason: string, message: string): void;
  /** Sends what is queued, for at most `ms`; what is left then is dropped, and later Events too. */
  drain(ms: number): Promise<void>;
}

/** client-go's maxQueuedEvents: beyond this many unsent Events, new ones are dropped. */
export const eventQueueCapacity = 1000;

const maxMessage = 1024;

/** Where the object store keeps core v1 Events (local mode). */
export const eventsResource = '/events';

/** `<object>.<random>`, as client-go names Events. */
export function eventName(object: KubeObject): string {
  return `${object.metadata.name}.${randomBytes(8).toString('hex')}`;
}

/**
 * The reference an Event holds to its object (core involvedObject, events.k8s.io regarding): the object's
 * resourceVersion when it has one, never a made-up one.
 */
export function objectReference(object: KubeObject): Record<string, string> {
  const { namespace, uid, resourceVersion } = object.metadata;
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    name: object.metadata.name,
    ...(uid ? { uid } : {}),
    ...(namespace ? { namespace } : {}),
    ...(typeof resourceVersion === 'string' && resourceVersion !== '' ? { resourceVersion } : {}),
  };
}

/** Event messages are kept short, as kube-apiserver's own recorder does. */
export function eventMessage(message: string): string {
  return message.length > maxMessage ? `${message.slice(0, maxMessage - 1)}…` : message;
}

/** client-go's maxLruCacheEntries: how many Events recorded here are remembered, to count repeats on. */
export const rememberedEvents = 4096;

/** What makes an Event the same as another: its object, type, reason and message (a digest: messages are long). */
function sameness(object: KubeObject, type: EventType, reason: string, message: string): string {
  return createHash('sha256')
    .update(JSON.stringify([object.metadata.uid, type, reason, message]))
    .digest('base64');
}

/**
 * The same Event again (same object, type, reason and message), counted on the one recorded before, as client-go's
 * recorder aggregates repeats: `count` and `lastTimestamp` move. As there, the Events recorded are remembered by
 * this process (the newest `rememberedEvents`), so that a first Event, most of them, reads nothing. False when
 * there is none to count on: never recorded, forgotten, gone (retention), or counted meanwhile by another write.
 */
async function counted(store: ResourceStore, recorded: { namespace: string; name: string }, time: string): Promise<boolean> {
  const same = await store.get(eventsResource, recorded.namespace, recorded.name).catch(() => undefined);
  if (!same) return false;
  const again = { ...same, count: Number(same.count ?? 1) + 1, lastTimestamp: time };
  return store.update(eventsResource, again, { expectedResourceVersion: String(same.metadata.resourceVersion) }).then(
    () => true,
    () => false,
  );
}

/** Events written to the store; recording never fails the work it reports on. `capacity`: rememberedEvents. */
export function storeEvents(store: ResourceStore, onError: (error: unknown) => void, capacity = rememberedEvents): EventRecorder {
  // Oldest first (a Map keeps insertion order): a repeat moves its Event to the end.
  const remembered = new Map<string, { namespace: string; name: string }>();
  const remember = (key: string, recorded: { namespace: string; name: string }) => {
    remembered.delete(key);
    if (remembered.size >= capacity) remembered.delete(remembered.keys().next().value!);
    remembered.set(key, recorded);
  };
  return {
    async record(object, type, reason, text) {
      const namespace = object.metadata.namespace || 'default';
      const time = rfc3339();
      const message = eventMessage(text);
      const key = object.metadata.uid ? sameness(object, type, reason, message) : undefined;
      const before = key === undefined ? undefined : remembered.get(key);
      if (before && (await counted(store, before, time))) {
        remember(key!, before);
        return;
      }
      const event: KubeObject = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: eventName(object), namespace },
        involvedObject: objectReference(object),
        type,
        reason,
        message,
        source: { component: 'postgres-apiserver' },
        reportingComponent: 'postgres-apiserver',
        firstTimestamp: time,
        lastTimestamp: time,
        count: 1,
      };
      const stored = await store.create(eventsResource, event).catch(onError);
      if (stored && key !== undefined) remember(key, { namespace, name: event.metadata.name });
    },
  };
}

/**
 * Events queued and sent one at a time by `recorder`, beginning once the turn that recorded the first is done (an
 * answer on its way goes first); `onDropped` hears of each spell of Events dropped.
 */
export function queuedEvents(recorder: EventRecorder, onDropped: (count: number) => void): EventSink {
  const queue: Parameters<EventRecorder['record']>[] = [];
  let sending: Promise<void> | undefined;
  let closed = false;
  let dropped = 0;
  const reportDropped = () => {
    if (dropped > 0) onDropped(dropped);
    dropped = 0;
  };
  const send = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) await recorder.record(...next).catch(() => undefined);
    reportDropped();
    sending = undefined;
  };
  return {
    record(...event) {
      if (closed || queue.length >= eventQueueCapacity) {
        dropped++;
        return;
      }
      queue.push(event);
      sending ??= afterThisTurn().then(send);
    },
    async drain(ms) {
      closed = true;
      await within(sending, ms);
      dropped += queue.splice(0).length;
      reportDropped();
    },
  };
}

/** "applied 3 statements: creating role "app"; granting …" */
export function appliedMessage(descriptions: readonly string[]): string {
  return `applied ${descriptions.length} statement${descriptions.length === 1 ? '' : 's'}: ${descriptions.join('; ')}`;
}
