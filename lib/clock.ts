// Time as the loops, the lease and the backoffs see it. The system clock serves; tests pass a fake one
// (@sinonjs/fake-timers' createClock has this shape) and move it forward, so they never wait on real time.

export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
};
