// /openapi/v2 and /openapi/v3 (K8S-WIRE §2), built once by openapi/ and served with ETags, 304s, and the
// v3 hash semantics of kube-openapi's handler3 (a stale hash is redirected, the current one is immutable). v2 is
// JSON, or protobuf to a client that asks for it (openapiproto.ts).
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
import { acceptsOpenAPIV2Protobuf, openAPIV2ProtobufType, protobufOf } from './openapiproto.ts';

/** What kube-openapi's handlers answer with, but for a v3 document asked for by its current hash. */
const revalidated = 'no-cache, private';

function send(ctx: Koa.Context, document: ServedDocument, cacheControl = revalidated): void {
  respond(ctx, { etag: document.etag, type: 'application/json', body: document.json }, cacheControl);
}

function respond(ctx: Koa.Context, answer: { etag: string; type: string; body: string | Buffer }, cacheControl: string): void {
  ctx.set('ETag', answer.etag);
  ctx.set('Vary', 'Accept');
  ctx.set('Cache-Control', cacheControl);
  if (ctx.get('if-none-match') === answer.etag) {
    ctx.status = 304;
    return;
  }
  ctx.type = answer.type;
  ctx.body = answer.body;
}

/** /openapi/v2 in JSON (what the aggregator asks), or as protobuf to a client that asks for it (kubectl), as kube-openapi's handler serves it. */
function sendV2(ctx: Koa.Context, document: ServedDocument): void {
  if (!acceptsOpenAPIV2Protobuf(ctx.get('accept'))) return send(ctx, document);
  const { bytes, etag } = protobufOf(document);
  respond(ctx, { etag, type: openAPIV2ProtobufType, body: bytes }, revalidated);
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
  router.get('/openapi/v2', (ctx) => sendV2(ctx, v2));
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
