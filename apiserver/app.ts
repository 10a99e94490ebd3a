// The HTTP core: errors become metav1.Status, health paths answer before authentication, then authorization,
// /metrics and the routers.
import { constants } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import Router from '@koa/router';
import Koa from 'koa';
import { Unavailable } from '../storage/objects/errors.ts';
import type { Logger } from '../lib/log.ts';
import { serviceUnavailable, StatusError } from '../openapi/status.ts';
import type { ServingCertificate } from './tls.ts';
import { deadline, stopSignal, type StopSignal } from './deadline.ts';
import { endWatches } from './watch.ts';

export interface AppOptions {
  log: Logger;
  /** Runs after the health paths and before the routers; throws a StatusError to refuse. */
  authenticate?: Koa.Middleware;
  /** Runs right after `authenticate`, with ctx.state.user set; throws a StatusError to refuse. */
  authorize?: Koa.Middleware;
  routers: Router[];
  /** Whether the server can serve (its store answers); /readyz reports it. */
  ready?: () => Promise<boolean>;
  /** The loops that no longer turn (Heartbeats); /livez fails while there are any. */
  stuck?: () => string[];
  /** Request metrics (metrics.ts): `measure` wraps every request; `router` serves /metrics after authentication. */
  metrics?: { measure: Koa.Middleware; router: Router };
  /** How long a request other than a watch may take (deadline.ts); kube-apiserver's 60 s by default. */
  requestDeadlineMs?: number;
}

function errors(log: Logger): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const status = toStatusError(error, log);
      ctx.status = status.code;
      if (status.details?.retryAfterSeconds !== undefined) ctx.set('Retry-After', String(status.details.retryAfterSeconds));
      ctx.type = 'application/json';
      ctx.body = status.toStatus();
    }
  };
}

/** The store's Unavailable, thrown as it is or as the cause of another error. */
function unavailableIn(error: unknown): Unavailable | undefined {
  for (let e = error; e instanceof Error; e = e.cause) if (e instanceof Unavailable) return e;
  return undefined;
}

/**
 * Client faults keep their message; an unreachable store is 503 (clients retry); anything else is logged
 * once and answered without details.
 */
function toStatusError(error: unknown, log: Logger): StatusError {
  if (error instanceof StatusError) return error;
  const unavailable = unavailableIn(error);
  if (unavailable) {
    log.warn({ reason: unavailable.message }, 'answered 503');
    return serviceUnavailable(unavailable.message, unavailable.retryAfterSeconds);
  }
  const { status, expose, message } = error as { status?: number; expose?: boolean; message?: string };
  if (status === 413) return new StatusError('RequestEntityTooLarge', message ?? 'request entity too large');
  if (expose && status !== undefined && status < 500) return new StatusError('BadRequest', message ?? 'bad request');
  log.error({ err: error }, 'request failed');
  return new StatusError('InternalError', 'Internal error occurred: the request could not be completed; see the server log');
}

/**
 * /livez: the process answers and its loops turn (a failure asks for a restart); /readyz: the object store
 * answers (a failure takes the replica out of the Service). Answered as kube-apiserver's health checks are.
 */
function health(ready: () => Promise<boolean>, stuck: () => string[]): Router {
  const router = new Router();
  const ok = (ctx: Koa.Context) => {
    ctx.type = 'text/plain';
    ctx.body = 'ok';
  };
  router.get(['/healthz', '/livez'], (ctx) => {
    const loops = stuck();
    if (loops.length === 0) return ok(ctx);
    ctx.status = 500;
    ctx.type = 'text/plain';
    ctx.body = `${loops.map((loop) => `[-]${loop}`).join('\n')}\nlivez check failed\n`;
  });
  router.get('/readyz', async (ctx) => {
    if (await ready().catch(() => false)) return ok(ctx);
    throw new StatusError('ServiceUnavailable', 'not ready: the object store does not answer');
  });
  return router;
}

export function createApp(options: AppOptions): Koa {
  const app = new Koa();
  // Errors after the response started (a watch whose client went away) reach here, not the middleware.
  app.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'ERR_STREAM_PREMATURE_CLOSE' || error.code === 'ECONNRESET' || error.code === 'EPIPE') return;
    options.log.error({ err: error }, 'response failed');
  });
  if (options.metrics) app.use(options.metrics.measure);
  app.use(errors(options.log));
  const stop = stopSignal();
  stopSignals.set(app, stop);
  app.use(deadline(stop, options.requestDeadlineMs));
  app.use(health(options.ready ?? (async () => true), options.stuck ?? (() => [])).routes());
  if (options.authenticate) app.use(options.authenticate);
  if (options.authorize) app.use(options.authorize);
  if (options.metrics) app.use(options.metrics.router.routes());
  for (const router of options.routers) app.use(router.routes());
  app.use(() => {
    throw new StatusError('NotFound', 'the server could not find the requested resource');
  });
  return app;
}

/** What the TLS context is made of: the certificate, no session tickets and no renegotiation. */
function secureContextOf(tls: Pick<ServingCertificate, 'cert' | 'key'>) {
  // A session resumed from a ticket keeps the client's certificate but not the intermediates it sent. The
  // client's certificates are read once per connection (authentication.ts): renegotiating cannot change them,
  // as a Go server (kube-apiserver) never renegotiates either.
  return { cert: tls.cert, key: tls.key, secureOptions: constants.SSL_OP_NO_TICKET | constants.SSL_OP_NO_RENEGOTIATION };
}

/**
 * Serves the app over TLS; resolves once it listens. Client certificates are asked for but not checked here:
 * the trusted CAs change at run time, so authentication verifies them per request.
 */
export async function listen(app: Koa, tls: Pick<ServingCertificate, 'cert' | 'key'>, port: number, host = '127.0.0.1'): Promise<Server> {
  const handle = app.callback(); // answers every error itself
  const server = createServer(
    { ...secureContextOf(tls), requestCert: true, rejectUnauthorized: false },
    (request, response) => void handle(request, response),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

/**
 * Stops serving `app`: no new connections, open watches end (their clients watch again elsewhere), and each
 * connection closes once its requests are answered. Resolves when none is left.
 */
export function closeServer(server: Server, app: Koa, graceMs = stopGraceMs): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    endWatches(app);
    // Requests still in flight after the grace answer 503.
    const grace = setTimeout(() => stopSignals.get(app)?.end(), graceMs);
    // close() closes the connections idle at that moment; the others close as they turn idle.
    const idle = setInterval(() => server.closeIdleConnections(), 100);
    server.once('close', () => {
      clearInterval(idle);
      clearTimeout(grace);
    });
  });
}

/** How long requests in flight may still take once the server stops (the whole stop takes 5 s at most). */
export const stopGraceMs = 2_000;

const stopSignals = new WeakMap<Koa, StopSignal>();

/** New connections are served with `tls` (a renewed certificate); open ones keep theirs. */
export function replaceCertificate(server: Server, tls: Pick<ServingCertificate, 'cert' | 'key'>): void {
  server.setSecureContext(secureContextOf(tls));
}
