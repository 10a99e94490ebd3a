// Every request but a watch answers within a deadline, as kube-apiserver's --request-timeout (60 s) makes it:
// past it the answer is 504 Timeout and the work under way is left to finish (or fail) on its own. A client's
// shorter `?timeout=` wins. A server that stops gives the requests in flight a short grace, then answers them
// 503 (the client retries elsewhere) and leaves their work to be cut off with the process.
import type Koa from 'koa';
import { serviceUnavailable, StatusError } from '../openapi/status.ts';
import { watchRequested } from './parameters.ts';

/** kube-apiserver's default --request-timeout. */
export const requestDeadlineMs = 60_000;

/** A `timeout` query value (Go duration: 30s, 1m, 500ms), in ms; undefined when absent or not a duration. */
function clientTimeoutMs(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value);
  if (!match) return undefined;
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unit;
}

/** Resolved when the requests in flight have had their grace: they answer 503 then. */
export interface StopSignal {
  graceOver: Promise<'stopping'>;
  end(): void;
}

export function stopSignal(): StopSignal {
  let end: () => void = () => undefined;
  const graceOver = new Promise<'stopping'>((resolve) => (end = () => resolve('stopping')));
  return { graceOver, end };
}

export function deadline(stop: StopSignal, limitMs = requestDeadlineMs): Koa.Middleware {
  return async (ctx, next) => {
    if (watchRequested(ctx.query)) return next();
    const ms = Math.min(limitMs, clientTimeoutMs(ctx.query.timeout) ?? limitMs);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((resolve) => (timer = setTimeout(() => resolve('expired'), ms)));
    const work = next().then(() => 'done' as const);
    try {
      const outcome = await Promise.race([work, expired, stop.graceOver]);
      if (outcome === 'done') return;
      work.catch(() => undefined); // its fault, if any, comes after the answer
      if (outcome === 'stopping') throw serviceUnavailable('the server is stopping; retry', 1);
      throw new StatusError('Timeout', `Timeout: request did not complete within the allowed duration (${ms / 1000}s)`);
    } finally {
      clearTimeout(timer);
    }
  };
}
