// /openapi/v2 and /openapi/v3 (K8S-WIRE §2), built once by openapi/ and served with ETags, 304s, and the
// v3 hash semantics of kube-openapi's handler3 (a stale hash is redirected, the current one is immutable).
import Router from '@koa/router';
import type Koa from 'koa';
import {
  buildOpenAPIV3Discovery,
  groupVersionPath,
  openAPIV2,
  openAPIV3Discovery,
  openAPIV3GroupVersion,
  serve,
  type ServedDocument,
} from '../openapi/document.ts';

function send(ctx: Koa.Context, document: ServedDocument, cacheControl = 'no-cache, private'): void {
  ctx.set('ETag', document.etag);
  ctx.set('Vary', 'Accept');
  ctx.set('Cache-Control', cacheControl);
  if (ctx.get('if-none-match') === document.etag) {
    ctx.status = 304;
    return;
  }
  ctx.type = 'application/json';
  ctx.body = document.json;
}

/**
 * `extra`: more v3 group-version documents by path (local mode's `api/v1`), listed in /openapi/v3 too; `v2`: the
 * /openapi/v2 document when it has more than our kinds.
 */
export function openapiRouter(extra: Record<string, ServedDocument> = {}, v2: ServedDocument = openAPIV2()): Router {
  const router = new Router();
  const ours = openAPIV3GroupVersion(groupVersionPath)!;
  const discovery =
    Object.keys(extra).length === 0 ? openAPIV3Discovery() : serve(buildOpenAPIV3Discovery({ [groupVersionPath]: ours, ...extra }));
  router.get('/openapi/v2', (ctx) => send(ctx, v2));
  router.get('/openapi/v3', (ctx) => send(ctx, discovery));
  router.get('/openapi/v3/*path', (ctx, next) => {
    const path = ctx.params.path!;
    const document = Object.hasOwn(extra, path) ? extra[path] : openAPIV3GroupVersion(path);
    if (!document) return next();
    const hash = ctx.query.hash;
    if (hash === undefined) return send(ctx, document);
    if (hash !== document.hash) {
      ctx.status = 301;
      ctx.redirect(`/openapi/v3/${path}?hash=${document.hash}`);
      return;
    }
    send(ctx, document, 'public, immutable');
  });
  return router;
}
