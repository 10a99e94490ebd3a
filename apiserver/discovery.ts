// Discovery (K8S-WIRE §1): aggregated v2 on /apis (and /api for the core group local mode serves), with
// ETag and 304; the legacy APIGroupList / APIGroup / APIResourceList documents for older clients.
import { createHash } from 'node:crypto';
import Router from '@koa/router';
import type Koa from 'koa';

export interface DiscoveryResource {
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  verbs: readonly string[];
  shortNames?: readonly string[];
  categories?: readonly string[];
  /** e.g. ['status'] */
  subresources?: readonly string[];
}

export interface DiscoveryGroup {
  /** '' for the core group, served under /api. */
  group: string;
  version: string;
  resources: readonly DiscoveryResource[];
}

const v2ContentType = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
const subresourceVerbs = ['get', 'patch', 'update'];

function wantsAggregated(accept: string): boolean {
  return accept.split(',').some((type) => {
    const params = new Set(
      type
        .split(';')
        .slice(1)
        .map((p) => p.trim()),
    );
    return params.has('g=apidiscovery.k8s.io') && params.has('v=v2') && params.has('as=APIGroupDiscoveryList');
  });
}

function aggregated(groups: readonly DiscoveryGroup[]) {
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: 'apidiscovery.k8s.io/v2',
    metadata: {},
    items: groups.map((g) => ({
      metadata: { name: g.group },
      versions: [
        {
          version: g.version,
          freshness: 'Current',
          resources: g.resources.map((r) => {
            const responseKind = { group: g.group, version: g.version, kind: r.kind };
            return {
              resource: r.plural,
              responseKind,
              scope: r.namespaced ? 'Namespaced' : 'Cluster',
              singularResource: r.singular,
              verbs: r.verbs,
              ...(r.shortNames?.length ? { shortNames: r.shortNames } : {}),
              ...(r.categories?.length ? { categories: r.categories } : {}),
              ...(r.subresources?.length
                ? { subresources: r.subresources.map((subresource) => ({ subresource, responseKind, verbs: subresourceVerbs })) }
                : {}),
            };
          }),
        },
      ],
    })),
  };
}

function groupVersion(g: DiscoveryGroup): string {
  return g.group ? `${g.group}/${g.version}` : g.version;
}

function apiGroup(g: DiscoveryGroup) {
  const version = { groupVersion: groupVersion(g), version: g.version };
  return { name: g.group, versions: [version], preferredVersion: version };
}

function resourceList(g: DiscoveryGroup) {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: groupVersion(g),
    resources: g.resources.flatMap((r) => {
      const entry = {
        name: r.plural,
        singularName: r.singular,
        namespaced: r.namespaced,
        group: g.group,
        version: g.version,
        kind: r.kind,
      };
      return [
        {
          ...entry,
          verbs: r.verbs,
          ...(r.shortNames?.length ? { shortNames: r.shortNames } : {}),
          ...(r.categories?.length ? { categories: r.categories } : {}),
        },
        ...(r.subresources ?? []).map((s) => ({ ...entry, name: `${r.plural}/${s}`, singularName: '', verbs: subresourceVerbs })),
      ];
    }),
  };
}

/** Serves a JSON document with a strong ETag, answering 304 to a matching If-None-Match. */
function sendCached(ctx: Koa.Context, body: unknown, contentType: string): void {
  const text = JSON.stringify(body);
  const etag = `"${createHash('sha512').update(text).digest('hex')}"`;
  ctx.set('ETag', etag);
  ctx.set('Vary', 'Accept');
  ctx.set('Cache-Control', 'public');
  if (ctx.get('if-none-match') === etag) {
    ctx.status = 304;
    return;
  }
  ctx.body = text;
  ctx.set('Content-Type', contentType); // exactly, without the charset Koa would add
}

export function discoveryRouter(groups: readonly DiscoveryGroup[]): Router {
  const router = new Router();
  const core = groups.filter((g) => g.group === '');
  const named = groups.filter((g) => g.group !== '');
  const serveList = (list: readonly DiscoveryGroup[], legacy: () => unknown) => (ctx: Koa.Context) => {
    if (wantsAggregated(ctx.get('accept'))) sendCached(ctx, aggregated(list), v2ContentType);
    else sendCached(ctx, legacy(), 'application/json');
  };
  if (core.length > 0) {
    router.get(
      '/api',
      serveList(core, () => ({ kind: 'APIVersions', versions: core.map((g) => g.version), serverAddressByClientCIDRs: null })),
    );
  }
  router.get(
    '/apis',
    serveList(named, () => ({ kind: 'APIGroupList', apiVersion: 'v1', groups: named.map(apiGroup) })),
  );
  for (const g of groups) {
    if (g.group)
      router.get(`/apis/${g.group}`, (ctx) => sendCached(ctx, { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(g) }, 'application/json'));
    router.get(g.group ? `/apis/${groupVersion(g)}` : `/api/${g.version}`, (ctx) => sendCached(ctx, resourceList(g), 'application/json'));
  }
  return router;
}
