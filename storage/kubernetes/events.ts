// Events (core v1) about our objects: changes applied (statements summarised by their descriptions, which
// never hold a secret), drift found, and failures. `kubectl describe` lists them. Local mode keeps them in
// its store; in a cluster they go to the cluster.
import { randomBytes } from 'node:crypto';
import type { KubeObject } from '../../openapi/objects.ts';
import type { ResourceStore } from '../objects/types.ts';
import { rfc3339 } from '../../lib/time.ts';
import { within } from '../../lib/promises.ts';

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

/**
 * The same Event again (same object, type, reason and message), counted on the one already there, as client-go's
 * recorder aggregates repeats: `count` and `lastTimestamp` move. Undefined when there is none to count on.
 */
async function repeated(
  store: ResourceStore,
  object: KubeObject,
  type: EventType,
  reason: string,
  message: string,
  time: string,
): Promise<KubeObject | undefined> {
  const same = (await store.find(eventsResource, ['involvedObject', 'uid'], [String(object.metadata.uid)])).find(
    (e) => e.type === type && e.reason === reason && e.message === message,
  );
  if (!same) return undefined;
  const counted = { ...same, count: Number(same.count ?? 1) + 1, lastTimestamp: time };
  // A concurrent count of the same Event wins; this one is then recorded as a new Event.
  return store.update(eventsResource, counted, { expectedResourceVersion: String(same.metadata.resourceVersion) }).catch(() => undefined);
}

/** Events written to the store; recording never fails the work it reports on. */
export function storeEvents(store: ResourceStore, onError: (error: unknown) => void): EventRecorder {
  return {
    async record(object, type, reason, text) {
      const namespace = object.metadata.namespace || 'default';
      const time = rfc3339();
      const message = eventMessage(text);
      const counted = object.metadata.uid ? await repeated(store, object, type, reason, message, time).catch(() => undefined) : undefined;
      if (counted) return;
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
      await store.create(eventsResource, event).catch(onError);
    },
  };
}

/** Events queued and sent one at a time by `recorder`; `onDropped` hears of each spell of Events dropped. */
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
      sending ??= send();
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
