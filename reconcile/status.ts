// Keeps the stored status of our kinds current: every interval it reads them with their live status (which
// persists a status that changed), so watchers see MODIFIED when drift appears in the catalog. It reports;
// correcting drift is the reconciler's.
import type { Logger } from '../apiserver/log.ts';
import { storeResource, type ResourceKind, type ResourceStore } from '../apiserver/resource.ts';

export class StatusRefresher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly kinds: readonly ResourceKind[],
    private readonly store: ResourceStore,
    private readonly log: Logger,
  ) {}

  /** One pass over every object of every kind; one kind failing does not stop the others. */
  async refresh(): Promise<void> {
    for (const kind of this.kinds) {
      if (!kind.strategy.decorate) continue;
      try {
        const { items } = await this.store.list(storeResource(kind), {});
        if (items.length > 0) await kind.strategy.decorate(items);
      } catch (error) {
        this.log.warn({ err: error, kind: kind.kind }, 'refreshing status failed');
      }
    }
  }

  /** Refreshes every `intervalMs`, one pass at a time. */
  start(intervalMs: number): void {
    const tick = () => {
      this.running = this.refresh().finally(() => {
        this.running = undefined;
        if (this.timer) this.timer = setTimeout(tick, intervalMs);
      });
    };
    this.timer = setTimeout(tick, intervalMs);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
