// Who is asking. Local mode knows one user, holding a bearer token written into its kubeconfig; in a cluster,
// delegated authentication (front-proxy certificates, TokenReview) takes this place.
import { timingSafeEqual } from 'node:crypto';
import type Koa from 'koa';
import { StatusError } from './status.ts';

export interface User {
  name: string;
  groups: string[];
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Accepts `Authorization: Bearer <token>` for the one local user; anything else is 401. */
export function bearerTokenAuthentication(token: string, user: User): Koa.Middleware {
  return async (ctx, next) => {
    const [scheme, given] = (ctx.get('authorization') || '').split(' ');
    if (scheme?.toLowerCase() !== 'bearer' || !given || !sameToken(given, token)) {
      throw new StatusError('Unauthorized', 'Unauthorized');
    }
    ctx.state.user = user;
    await next();
  };
}
