// Whether the process's loops still tick, for /livez: a loop that registers says how often it ticks, then
// beats at each turn. One whose turn is long overdue is stuck (an await that never ends, a timer lost), which
// a restart cures; a loop that merely fails (PostgreSQL away) still beats.
import { systemClock, type Clock } from './clock.ts';

export class Heartbeats {
  private readonly last = new Map<string, { at: number; overdueAfterMs: number }>();

  constructor(private readonly clock: Clock = systemClock) {}

  /**
   * A loop that turns every `periodMs`: it counts as stuck once three turns and a minute have passed without a
   * beat. Returns the beat; registering beats once.
   */
  register(name: string, periodMs: number): () => void {
    const beat = () => this.last.set(name, { at: this.clock.now(), overdueAfterMs: 3 * periodMs + 60_000 });
    beat();
    return beat;
  }

  /** A loop that stopped on purpose. */
  forget(name: string): void {
    this.last.delete(name);
  }

  /** The loops that have not ticked in time, each with how long it has been silent. */
  stuck(): string[] {
    const now = this.clock.now();
    return [...this.last]
      .filter(([, { at, overdueAfterMs }]) => now - at > overdueAfterMs)
      .map(([name, { at }]) => `${name}: no turn for ${Math.round((now - at) / 1000)} s`);
  }
}
