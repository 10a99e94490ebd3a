// What keeps the object store from growing without end, run by the leader every few minutes: the change log
// keeps its newest changes (older watches and continued lists then get 410 Expired, as after an etcd
// compaction), and in local mode, which keeps Events itself, an Event goes an hour after it last happened,
// as kube-apiserver's --event-ttl does.
import { failure, type Logger } from '../lib/log.ts';
import { eventsResource } from '../storage/kubernetes/events.ts';
import type { ObjectStore } from '../storage/objects/store.ts';
import type { KubeObject } from '../openapi/objects.ts';
import { NotFound } from '../storage/objects/errors.ts';

export interface RetentionOptions {
  /** Changes kept in the log. */
  changesKept: number;
  /** How long an Event is kept after its last occurrence; none when Events are not the store's. */
  eventTtlMs?: number;
  everyMs: number;
}

export const defaultRetention: RetentionOptions = { changesKept: 10_000, eventTtlMs: 60 * 60_000, everyMs: 5 * 60_000 };

function lastHappened(event: KubeObject): number {
  return Date.parse(String(event.lastTimestamp ?? event.eventTime ?? event.metadata.creationTimestamp ?? ''));
}

export class Retention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly store: ObjectStore,
    private readonly options: RetentionOptions,
    private readonly isLeader: () => boolean,
    private readonly log: Logger,
  ) {}

  /** `beat` is called at each turn (Heartbeats, for /livez). */
  start(beat: () => void = () => undefined): void {
    this.timer = setInterval(() => {
      beat();
      if (this.isLeader() && !this.running) this.running = this.once().finally(() => (this.running = undefined));
    }, this.options.everyMs);
  }

  /** One round; failures are logged, never thrown. */
  async once(now = Date.now()): Promise<void> {
    try {
      if (this.options.eventTtlMs !== undefined) await this.expireEvents(now - this.options.eventTtlMs);
      const removed = await this.store.compact(this.options.changesKept);
      if (removed > 0) this.log.debug({ removed }, 'compacted the change log');
    } catch (error) {
      this.log.warn(failure(error), 'store retention failed; it is tried again');
    }
  }

  private async expireEvents(before: number): Promise<void> {
    const { items } = await this.store.list(eventsResource, {});
    for (const event of items.filter((e) => lastHappened(e) < before)) {
      await this.store.delete(eventsResource, event.metadata.namespace ?? '', event.metadata.name).catch((error: unknown) => {
        if (!(error instanceof NotFound)) throw error;
      });
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
