// The schedule of one DatabaseCluster's passes: one every interval (from the start of the last, so that a
// cluster is compared once an interval however long its passes take), one shortly after a nudge (a notification
// that something changed in the catalog), one when a correction that failed may be tried again, and never two
// at once. Each interval is cut short at random, the first by up to a half and the others by up to a tenth: loops
// started together (a replica taking a shard) spread out at once instead of running their passes in bursts, and
// a pass a little late is still within its interval. A nudge waits `settleMs` so that a burst of statements
// causes one pass; nudges during a pass cause one more pass after it, not one each; nudged passes rest in
// between (restFactor).

import { systemClock, type Clock } from '../lib/clock.ts';

/**
 * A nudged pass waits, after the last pass, this many times as long as that pass took when that one was nudged
 * too: nudges that never stop (every write of ours changes the catalog's digest) keep passes to a quarter of the
 * time at most, however large the cluster, while a nudge after a quiet spell (the first one, or the one that
 * follows a pass's own corrections) and a small cluster's passes still come within the settle time.
 */
const restFactor = 3;
/** The longest rest: a pass made slow by a server that does not answer (timeouts) must not hold back the next for long. */
const maxRestMs = 5_000;

export class ClusterLoop {
  private timer: unknown;
  /** When the scheduled pass is due (epoch ms); Infinity when none is. */
  private dueAt = Infinity;
  private running: Promise<void> | undefined;
  private nudgedWhileRunning = false;
  /** Whether the pass scheduled now was asked for by a nudge. */
  private nudgedPass = false;
  private lastPass = { endedAt: -Infinity, tookMs: 0, nudged: false };
  private stopped = false;

  constructor(
    /**
     * One pass; it reports its own failures. It resolves with how soon it wants the next one when that is
     * sooner than the interval (an object's backoff ends), else undefined.
     */
    private readonly pass: () => Promise<number | undefined>,
    private intervalMs: number,
    private readonly settleMs = 150,
    private readonly clock: Clock = systemClock,
    /** The largest fraction an interval is cut short by; the first one's is five times that. */
    private readonly jitter = 0.1,
  ) {}

  private passesRun = 0;

  /** The first pass comes as soon as a nudged one: a loop starts with what changed while nobody looked. */
  start(): void {
    this.schedule(this.settleMs);
  }

  nudge(): void {
    if (this.running) this.nudgedWhileRunning = true;
    else if (this.schedule(this.nudgedDelayMs())) this.nudgedPass = true;
  }

  private nudgedDelayMs(): number {
    if (!this.lastPass.nudged) return this.settleMs;
    const rested = this.lastPass.endedAt + Math.min(restFactor * this.lastPass.tookMs, maxRestMs) - this.clock.now();
    return Math.max(this.settleMs, rested);
  }

  /** A new interval applies at once when it brings the next pass closer, else from the next pass on. */
  setIntervalMs(intervalMs: number): void {
    if (intervalMs === this.intervalMs) return;
    this.intervalMs = intervalMs;
    if (!this.running) this.schedule(intervalMs);
  }

  /** The sooner of the pass already scheduled and one in `delayMs`; whether this one is it. */
  private schedule(delayMs: number): boolean {
    const due = this.clock.now() + delayMs;
    if (this.stopped || due >= this.dueAt) return false;
    this.clock.clearTimeout(this.timer);
    this.dueAt = due;
    this.nudgedPass = false;
    this.timer = this.clock.setTimeout(() => this.run(), delayMs);
    return true;
  }

  private run(): void {
    this.dueAt = Infinity;
    this.nudgedWhileRunning = false;
    const nudged = this.nudgedPass;
    const startedAt = this.clock.now();
    this.running = this.pass().then((retryInMs) => {
      this.running = undefined;
      this.lastPass = { endedAt: this.clock.now(), tookMs: this.clock.now() - startedAt, nudged };
      // A pass that outlasted the interval is followed by the next after the settle time, not at once.
      const cut = (++this.passesRun === 1 ? 5 * this.jitter : this.jitter) * Math.random();
      const intervalMs = this.intervalMs * (1 - cut);
      const nextIntervalIn = Math.max(this.settleMs, startedAt + intervalMs - this.clock.now());
      // A nudge never puts off a pass the interval or a backoff asks for.
      const due = Math.min(nextIntervalIn, retryInMs ?? Infinity);
      const nudgedIn = this.nudgedWhileRunning ? this.nudgedDelayMs() : Infinity;
      if (this.schedule(Math.min(nudgedIn, due))) this.nudgedPass = nudgedIn < due;
    });
  }

  /** No pass starts after this; the one running, if any, finishes first. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    await this.running;
  }
}
