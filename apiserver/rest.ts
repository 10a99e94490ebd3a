// The REST verbs of one kind (K8S-WIRE §4, §6): get, list, watch, create, update, patch, delete,
// deletecollection and the status subresource, over the object store and the kind's strategy.
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import Router from '@koa/router';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import jsonMergePatch from 'json-merge-patch';
import type Koa from 'koa';
import {
  appliedObject,
  applyConfiguration,
  applyConflict,
  compactMetadata,
  fieldManagerOf,
  managementOf,
  patchOptionsOf,
  recordUpdate,
  withBody,
} from './apply.ts';
import { keysIn, objectKey, ObjectLocks } from '../lib/locks.ts';
import { countParameter, watchRequested } from './parameters.ts';
import { applyPatchType, decode, decodeObject, fieldValidationOf, readBody, warnerOf, writeContext, sendWarnings } from './request.ts';
import {
  apiVersionOf,
  selectableFieldNames,
  selectableFields,
  servedStore,
  storeResource,
  withReclaimFinalizer,
  notLive,
  type Admission,
  type WriteContext,
  type ResourceKind,
  type Written,
} from '../reconcile/kinds/resource.ts';
import { fieldSelector, labelSelector } from './selectors.ts';
import { badRequest, conflict, invalid, notFound, StatusError, type Subject } from '../openapi/status.ts';
import { includeObjectOf, toTable } from './table.ts';
import { asPartialObjectMetadata, asPartialObjectMetadataList, notAcceptable, representationOf, type ListMeta } from './representation.ts';
import { serveWatch } from './watch.ts';
import type { KubeObject } from '../openapi/objects.ts';
import { deleteObject, despitePersistedStatus } from '../reconcile/kinds/delete.ts';
import type { ResourceStore } from '../storage/objects/types.ts';
import { fromStoreError } from '../storage/objects/errors.ts';
import { isObject } from '../lib/guards.ts';
import { afterThisTurn } from '../lib/promises.ts';

const patchTypes: readonly string[] = ['application/json-patch+json', 'application/merge-patch+json', applyPatchType];
const strategicMergePatchType = 'application/strategic-merge-patch+json';

export interface Scope {
  namespace: string;
  name: string;
}

function subjectOf(kind: ResourceKind, name?: string): Subject {
  return { group: kind.group, resource: kind.plural, kind: kind.kind, ...(name ? { name } : {}) };
}

/** Everything outside metadata and status: what bumps metadata.generation. */
function specOf(object: KubeObject): string {
  const { metadata: _m, status: _s, ...rest } = object;
  return JSON.stringify(rest);
}

/**
 * The generation moves when the spec, as defaults and pruning leave it, is not the one stored: a Secret sent again
 * with its stringData, or an object sent without the fields its defaults fill, changes nothing.
 */
function withGeneration(admitted: KubeObject, old: KubeObject): KubeObject {
  if (specOf(admitted) === specOf(old)) return admitted;
  return { ...admitted, metadata: { ...admitted.metadata, generation: Number(old.metadata.generation ?? 1) + 1 } };
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

/** The object without what a write stamps (resourceVersion, managedFields times): equal means a no-op. */
function writtenContent(object: KubeObject): unknown {
  const { resourceVersion: _rv, managedFields, ...metadata } = object.metadata;
  const fields = Array.isArray(managedFields)
    ? managedFields.map(({ time: _time, ...entry }: Record<string, unknown>) => entry)
    : managedFields;
  return { ...object, metadata: { ...metadata, managedFields: fields } };
}

/** metadata.generateName → a name with a random suffix, as kube-apiserver does. */
function withName(object: KubeObject): KubeObject {
  const generateName = object.metadata.generateName;
  if (object.metadata.name || typeof generateName !== 'string') return object;
  const suffix = Math.random().toString(36).slice(2, 7);
  return { ...object, metadata: { ...object.metadata, name: `${generateName}${suffix}` } };
}

export class ResourceHandlers {
  private readonly resource: string;

  constructor(
    private readonly kind: ResourceKind,
    private readonly store: ResourceStore,
    private readonly locks: ObjectLocks,
  ) {
    this.resource = storeResource(kind);
  }

  /** As clients see stored objects: write-only fields gone. */
  private visible(objects: KubeObject[]): KubeObject[] {
    return this.kind.strategy.writeOnly ? objects.map((o) => this.kind.strategy.writeOnly!(o)) : objects;
  }

  /**
   * What a write answers: the live object (as its write stored it, when that read the catalog after its SQL), or
   * for a dry run the object as it would be (nothing is persisted).
   * The write is done by now: a live status that cannot be read (the store went away meanwhile) makes the
   * answer the stored object with a Warning, never an error.
   */
  private async answer(ctx: Koa.Context, object: KubeObject, dryRun: boolean, statusIsLive = false): Promise<KubeObject> {
    if (dryRun || statusIsLive) return this.visible([object])[0]!;
    try {
      return (await this.decorate([object], ctx))[0]!;
    } catch (error) {
      warnerOf(ctx)(`the write is done, but its live status could not be read: ${(error as Error).message}`);
      return this.visible([object])[0]!;
    }
  }

  /** As reads answer: visible, with the live status merged in. */
  private async decorate(objects: KubeObject[], ctx?: Koa.Context): Promise<KubeObject[]> {
    const visible = this.visible(objects);
    const warn = ctx ? warnerOf(ctx) : undefined;
    return this.kind.strategy.decorate ? this.kind.strategy.decorate(visible, warn) : visible;
  }

  private async load(scope: Scope): Promise<KubeObject> {
    await this.locks.settled(objectKey(this.resource, scope.namespace, scope.name));
    return this.store.get(this.resource, scope.namespace, scope.name).catch((error: unknown) => {
      throw fromStoreError(error);
    });
  }

  /** Answers one object as Accept asks: itself, a one-row Table, or its metadata only. */
  private send(ctx: Koa.Context, object: KubeObject, status = 200): void {
    sendWarnings(ctx);
    const representation = representationOf(ctx.get('accept'));
    ctx.status = status;
    switch (representation.as) {
      case 'Table':
        ctx.body = toTable(this.kind.columns, [object], {
          include: includeObjectOf(ctx.query.includeObject as string | undefined),
          groupVersion: representation.groupVersion,
          withColumns: true,
          metadata: { resourceVersion: String(object.metadata.resourceVersion ?? '') },
        });
        return;
      case 'PartialObjectMetadata':
        ctx.body = asPartialObjectMetadata(object, representation.groupVersion);
        return;
      case 'PartialObjectMetadataList':
        throw notAcceptable(representation.as, this.kind.kind);
      default:
        ctx.body = object;
    }
  }

  /** Answers a list as Accept asks: itself, a Table, or its items' metadata only. */
  private sendList(ctx: Koa.Context, items: KubeObject[], metadata: ListMeta): void {
    sendWarnings(ctx);
    const representation = representationOf(ctx.get('accept'));
    switch (representation.as) {
      case 'Table':
        ctx.body = toTable(this.kind.columns, items, {
          include: includeObjectOf(ctx.query.includeObject as string | undefined),
          groupVersion: representation.groupVersion,
          withColumns: true,
          metadata,
        });
        return;
      case 'PartialObjectMetadataList':
        ctx.body = asPartialObjectMetadataList(metadata, items, representation.groupVersion);
        return;
      case 'PartialObjectMetadata':
        throw notAcceptable(representation.as, this.kind.kind);
      default:
        ctx.body = { apiVersion: apiVersionOf(this.kind), kind: `${this.kind.kind}List`, metadata, items };
    }
  }

  /** A Table's options are checked before anything is read: a request kube-apiserver refuses reads no catalog. */
  private checkTableOptions(ctx: Koa.Context): void {
    if (representationOf(ctx.get('accept')).as === 'Table') includeObjectOf(ctx.query.includeObject as string | undefined);
  }

  /** Whether Accept asks for metadata only: then no live status is read (the metadata is the stored one). */
  private metadataOnly(ctx: Koa.Context): boolean {
    const { as } = representationOf(ctx.get('accept'));
    return as === 'PartialObjectMetadata' || as === 'PartialObjectMetadataList';
  }

  async get(ctx: Koa.Context, scope: Scope): Promise<void> {
    this.checkTableOptions(ctx);
    const stored = await this.load(scope);
    const [object] = this.metadataOnly(ctx) ? this.visible([stored]) : await this.decorate([stored]);
    this.send(ctx, object!);
  }

  async list(ctx: Koa.Context, namespace: string): Promise<void> {
    this.checkTableOptions(ctx);
    const matchesLabels = labelSelector(ctx.query.labelSelector as string | undefined);
    const matchesFields = fieldSelector(ctx.query.fieldSelector as string | undefined, selectableFieldNames(this.kind));
    const limit = countParameter(ctx.query, 'limit') || undefined;
    await this.locks.settled(keysIn(this.resource, namespace));
    const page = await this.store
      .list(this.resource, {
        namespace,
        ...(limit ? { limit } : {}),
        ...(ctx.query.continue ? { continue: String(ctx.query.continue) } : {}),
      })
      .catch((error: unknown) => {
        throw fromStoreError(error);
      });
    const selected = page.items.filter(
      (o) => matchesLabels((o.metadata.labels ?? {}) as Record<string, string>) && matchesFields(selectableFields(this.kind, o)),
    );
    const items = this.metadataOnly(ctx) ? this.visible(selected) : await this.decorate(selected, ctx);
    this.sendList(ctx, items, { resourceVersion: page.resourceVersion, ...(page.continue ? { continue: page.continue } : {}) });
  }

  async watch(ctx: Koa.Context, namespace: string): Promise<void> {
    // Watchers see the stored objects: a live status is persisted by reads (and the reconciler) first.
    await serveWatch(ctx, this.kind, this.store, namespace, async (objects) => this.visible(objects));
  }

  /** Schema, defaults and validation, as every write does them. */
  private admit(ctx: Koa.Context, object: KubeObject, old: KubeObject | undefined): KubeObject {
    const { strategy } = this.kind;
    const refused = strategy.forbidden?.(object) ?? [];
    if (refused.length > 0) throw invalid(subjectOf(this.kind, object.metadata.name), refused);
    const validation = fieldValidationOf(ctx);
    const unknown = strategy.unknownFields(object);
    if (unknown.length > 0 && validation === 'Strict') {
      const fields = unknown.map((f) => `unknown field "${f}"`).join(', ');
      throw badRequest(
        `${this.kind.kind} in version "${this.kind.version}" cannot be handled as a ${this.kind.kind}: strict decoding error: ${fields}`,
      );
    }
    if (validation === 'Warn') for (const f of unknown) writeContext(ctx).warn(`unknown field "${f}"`);
    const admitted = strategy.withDefaults(unknown.length > 0 ? strategy.prune(object) : object);
    const errors = strategy.validate(admitted, old);
    if (errors.length > 0) throw invalid(subjectOf(this.kind, admitted.metadata.name), errors);
    return admitted;
  }

  private inScope(object: KubeObject, namespace: string): KubeObject {
    if (!this.kind.namespaced) {
      const { namespace: _ignored, ...metadata } = object.metadata;
      return { ...object, metadata: metadata as KubeObject['metadata'] };
    }
    if (object.metadata.namespace && object.metadata.namespace !== namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    return { ...object, metadata: { ...object.metadata, namespace } };
  }

  /** `applied`: the object an apply built, whose managedFields already name its manager. */
  async create(ctx: Koa.Context, namespace: string, applied = false): Promise<void> {
    const decoded = withName(this.inScope(decodeObject(await readBody(ctx), ctx.get('content-type'), this.kind), namespace));
    if (!decoded.metadata.name)
      throw invalid(subjectOf(this.kind), [
        { type: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' },
      ]);
    // The uid is the server's, named before admission so that hooks (Events, owner references) can use it.
    decoded.metadata = { ...decoded.metadata, uid: randomUUID() };
    const { status: _status, ...withoutStatus } = decoded;
    const admitted = this.admit(ctx, this.kind.statusSubresource ? (withoutStatus as KubeObject) : decoded, undefined);
    const object = applied
      ? admitted
      : recordUpdate(undefined, admitted, fieldManagerOf(ctx, 'CreateOptions'), managementOf(this.kind, undefined));
    const request = writeContext(ctx);
    const fresh = withReclaimFinalizer(this.kind.strategy, { ...object, metadata: { ...object.metadata, generation: 1 } });
    const admission = await this.admission(fresh, undefined, request);
    if (request.dryRun) {
      await this.store.checkClaims(this.resource, fresh, admission.claims).catch((e: unknown) => {
        throw fromStoreError(e);
      });
      const rehearsed = admission.write ? (await admission.write(fresh)).object : fresh;
      await this.kind.strategy.writeWarnings?.(rehearsed, request);
      this.send(ctx, await this.answer(ctx, rehearsed, true), 201);
      return;
    }
    // The object and its claims first, in one transaction: a create that loses a claim runs no SQL. Its write
    // holds the object's lock, so that no correction of the reconciler runs beside it (an apply holds it already).
    const create = async () => {
      const stored = await this.store.create(this.resource, fresh, admission.claims).catch((e: unknown) => {
        throw fromStoreError(e);
      });
      return this.written(stored, admission, request, ctx);
    };
    const created = applied
      ? await create()
      : await this.locks.run(objectKey(this.resource, fresh.metadata.namespace, fresh.metadata.name), create);
    await this.kind.strategy.writeWarnings?.(created.object, request);
    this.send(ctx, await this.answer(ctx, created.object, false, created.statusIsLive), 201);
  }

  private admission(object: KubeObject, old: KubeObject | undefined, request: WriteContext): Promise<Admission> {
    return this.kind.strategy.admit ? this.kind.strategy.admit(object, old, request) : Promise.resolve({ claims: [] });
  }

  /**
   * Runs a created object's write and stores what it recorded. A refusal the write meets (a 4xx) undoes the
   * create, claims included; any other failure leaves the object stored, answered with a Warning: the
   * reconciler writes it again.
   */
  private async written(stored: KubeObject, admission: Admission, request: WriteContext, ctx: Koa.Context): Promise<Written> {
    if (!admission.write) return notLive(stored);
    let written: Written;
    try {
      written = await admission.write(stored);
    } catch (error) {
      if (error instanceof StatusError && error.code < 500) {
        // Under the object's lock: nothing but a read's persisted status can have changed it since.
        await this.store.delete(this.resource, stored.metadata.namespace ?? '', stored.metadata.name);
        throw error;
      }
      request.warn(`the object is stored, but writing it failed (${(error as Error).message}); it is retried`);
      return notLive(stored);
    }
    // What the write recorded in status (passwordSecretVersion), kept over a live status a read persisted meanwhile.
    const before = (stored.status ?? {}) as Record<string, unknown>;
    const recorded = Object.fromEntries(
      Object.entries((written.object.status ?? {}) as Record<string, unknown>).filter(
        ([key, value]) => !isDeepStrictEqual(before[key], value),
      ),
    );
    if (Object.keys(recorded).length === 0) return { object: stored, statusIsLive: written.statusIsLive };
    const withRecorded = (current: KubeObject) => ({ ...current, status: { ...(current.status as object | undefined), ...recorded } });
    const record = (current: KubeObject) =>
      this.store.update(this.resource, withRecorded(current), { expectedResourceVersion: String(current.metadata.resourceVersion) });
    // Stored after the answer, as a controller stores a status after a create: the object's lock is held until
    // it is, and reads of the object wait for it (load, list). The answer shows it at the create's resourceVersion,
    // and is written first: the store's write begins once this turn, which sends it, is done.
    const { namespace, name } = stored.metadata;
    const recording = afterThisTurn().then(() => despitePersistedStatus(this.store, this.resource, stored, record));
    this.locks.hold(objectKey(this.resource, namespace, name), recording);
    recording.catch((error: unknown) => {
      const why = error instanceof Error ? error.message : String(error);
      ctx.app.emit(
        'error',
        new Error(
          `${this.kind.kind} ${namespace ?? ''}/${name}: storing the status its create recorded: ${why}; the next read or pass stores it`,
        ),
      );
    });
    return { object: withRecorded(stored), statusIsLive: written.statusIsLive };
  }

  /** Stores `next` in place of `old`: immutable metadata kept, generation bumped when the spec changed. */
  private async replace(
    ctx: Koa.Context,
    next: KubeObject,
    old: KubeObject,
    subresource: 'status' | undefined,
    preconditioned = true,
  ): Promise<void> {
    if (next.metadata.uid && next.metadata.uid !== old.metadata.uid)
      throw uidConflict(this.kind, old.metadata.name, next.metadata.uid, old.metadata.uid);
    const keepStatus = this.kind.statusSubresource && subresource === undefined;
    const merged: KubeObject =
      subresource === 'status' ? { ...old, status: next.status } : { ...next, ...(keepStatus ? { status: old.status } : {}) };
    if (merged.status === undefined) delete merged.status;
    const metadata: KubeObject['metadata'] = {
      ...(subresource === 'status' ? old.metadata : next.metadata),
      name: old.metadata.name,
      ...(this.kind.namespaced ? { namespace: old.metadata.namespace } : {}),
      uid: old.metadata.uid,
      creationTimestamp: old.metadata.creationTimestamp,
      resourceVersion: next.metadata.resourceVersion ?? old.metadata.resourceVersion,
      generation: old.metadata.generation ?? 1,
      ...(old.metadata.deletionTimestamp ? { deletionTimestamp: old.metadata.deletionTimestamp } : {}),
    };
    const object = subresource === 'status' ? { ...merged, metadata } : withGeneration(this.admit(ctx, { ...merged, metadata }, old), old);
    const request = writeContext(ctx);
    const { object: prepared, statusIsLive } =
      subresource === undefined
        ? await this.admitAndWrite(withReclaimFinalizer(this.kind.strategy, object), old, request)
        : notLive(object);
    const finalizers = (prepared.metadata.finalizers as string[] | undefined) ?? [];
    if (old.metadata.deletionTimestamp && finalizers.length === 0) {
      await this.remove(ctx, prepared, request.dryRun);
      return;
    }
    // A write that changes nothing stores nothing, as kube-apiserver does: no new resourceVersion, no watch event.
    let stored: KubeObject;
    if (isDeepStrictEqual(writtenContent(prepared), writtenContent(old))) stored = old;
    else if (request.dryRun) stored = prepared;
    else {
      const storedOver = (current: KubeObject) =>
        this.store.update(
          this.resource,
          { ...prepared, metadata: { ...prepared.metadata, resourceVersion: current.metadata.resourceVersion } },
          { expectedResourceVersion: String(current.metadata.resourceVersion) },
        );
      // Its SQL has run: a status stored meanwhile by a read (same spec) must not undo the write, unless the
      // request named the resourceVersion it was made against.
      const written = preconditioned
        ? this.store.update(this.resource, prepared, { expectedResourceVersion: String(metadata.resourceVersion) })
        : despitePersistedStatus(this.store, this.resource, old, storedOver);
      stored = await written.catch((e: unknown) => {
        throw fromStoreError(e);
      });
    }
    if (subresource === undefined) await this.kind.strategy.writeWarnings?.(stored, request);
    const shown = await this.answer(ctx, stored, request.dryRun, statusIsLive);
    this.send(ctx, shown);
  }

  /** An update's admission, its claims (an object stored before its server could be read has none yet), then its write. */
  private async admitAndWrite(object: KubeObject, old: KubeObject, request: WriteContext): Promise<Written> {
    const admission = await this.admission(object, old, request);
    const claim = request.dryRun
      ? this.store.checkClaims(this.resource, old, admission.claims)
      : this.store.claim(this.resource, old, admission.claims);
    await claim.catch((e: unknown) => {
      throw fromStoreError(e);
    });
    return admission.write ? admission.write(object) : notLive(object);
  }

  async update(ctx: Koa.Context, scope: Scope, subresource?: 'status'): Promise<void> {
    const next = this.inScope(decodeObject(await readBody(ctx), ctx.get('content-type'), this.kind), scope.namespace);
    if (next.metadata.name !== scope.name) throw badRequest('the name of the object does not match the name on the URL');
    if (!next.metadata.resourceVersion) {
      throw invalid(subjectOf(this.kind, scope.name), [
        { type: 'FieldValueInvalid', field: 'metadata.resourceVersion', message: 'Invalid value: 0x0: must be specified for an update' },
      ]);
    }
    const old = await this.load(scope);
    if (String(next.metadata.resourceVersion) !== String(old.metadata.resourceVersion)) throw conflict(subjectOf(this.kind, scope.name));
    await this.replace(
      ctx,
      recordUpdate(old, next, fieldManagerOf(ctx, 'UpdateOptions'), managementOf(this.kind, subresource)),
      old,
      subresource,
    );
  }

  async patch(ctx: Koa.Context, scope: Scope, subresource?: 'status'): Promise<void> {
    const type = ctx.get('content-type').split(';')[0]!.trim();
    const accepted = this.kind.strategicMergePatch ? [...patchTypes, strategicMergePatchType] : patchTypes;
    if (!accepted.includes(type)) {
      throw new StatusError(
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
      );
    }
    const isApply = type === applyPatchType;
    const { manager, force } = patchOptionsOf(ctx, isApply);
    const body = decode(await readBody(ctx), isApply ? 'application/yaml' : 'application/json');
    // Only an apply to the object itself may create it.
    const old = await this.load(scope).catch((error: unknown) => {
      if (isApply && subresource === undefined && error instanceof StatusError && error.reason === 'NotFound') return undefined;
      throw error;
    });
    const management = managementOf(this.kind, subresource);
    const apply = (live: KubeObject | undefined): KubeObject => {
      const result = applyConfiguration(live, appliedObject(body, this.kind, scope, live !== undefined), manager, force, management);
      if ('conflicts' in result) throw applyConflict(result.conflicts);
      return compactMetadata(result.object);
    };
    if (!old) return this.create(withBody(ctx, apply(undefined)), scope.namespace, true);
    let next: KubeObject;
    if (isApply) {
      next = apply(old);
    } else {
      const patched =
        type === 'application/json-patch+json'
          ? jsonPatch(old, body)
          : mergePatch(old, type === strategicMergePatchType ? withoutDirectives(body) : body);
      if (!isObject(patched) || !isObject(patched.metadata)) throw badRequest('the patch leaves no object');
      next = recordUpdate(
        old,
        compactMetadata({
          ...(patched as KubeObject),
          metadata: { ...patched.metadata, resourceVersion: old.metadata.resourceVersion } as KubeObject['metadata'],
        }),
        manager,
        management,
      );
    }
    if (next.apiVersion !== old.apiVersion || next.kind !== old.kind || next.metadata.name !== old.metadata.name) {
      throw badRequest('a patch may not change apiVersion, kind or metadata.name');
    }
    // A patch applies to what it read. A status a read stored in between is written over (the spec is the same);
    // any other write in between is a Conflict, and so is any write at all when the patch names a resourceVersion.
    await this.replace(ctx, next, old, subresource, namesResourceVersion(body, type));
  }

  private async remove(ctx: Koa.Context, object: KubeObject, dryRun: boolean): Promise<void> {
    const deleted = dryRun
      ? object
      : await this.store
          .delete(this.resource, object.metadata.namespace ?? '', object.metadata.name, {
            expectedResourceVersion: String(object.metadata.resourceVersion),
          })
          .catch((e: unknown) => {
            throw fromStoreError(e);
          });
    const shown = await this.answer(ctx, deleted, dryRun);
    this.send(ctx, shown);
  }

  async delete(ctx: Koa.Context, scope: Scope): Promise<void> {
    const options = await deleteOptions(ctx);
    const object = await this.load(scope);
    const preconditions = (options.preconditions ?? {}) as { resourceVersion?: string; uid?: string };
    if (preconditions.uid && preconditions.uid !== object.metadata.uid)
      throw uidConflict(this.kind, scope.name, preconditions.uid, object.metadata.uid);
    if (preconditions.resourceVersion && preconditions.resourceVersion !== object.metadata.resourceVersion)
      throw conflict(subjectOf(this.kind, scope.name));
    const request = writeContext(ctx);
    const result = await deleteObject(this.kind, this.store, object, request).catch((e: unknown) => {
      throw fromStoreError(e);
    });
    this.send(ctx, await this.answer(ctx, result, request.dryRun));
  }

  async deleteCollection(ctx: Koa.Context, namespace: string): Promise<void> {
    const matchesLabels = labelSelector(ctx.query.labelSelector as string | undefined);
    const matchesFields = fieldSelector(ctx.query.fieldSelector as string | undefined, selectableFieldNames(this.kind));
    const request = writeContext(ctx);
    const { items, resourceVersion } = await this.store.list(this.resource, { namespace });
    const deleted: KubeObject[] = [];
    for (const object of items.filter(
      (o) => matchesLabels((o.metadata.labels ?? {}) as Record<string, string>) && matchesFields(selectableFields(this.kind, o)),
    )) {
      await this.locks.run(objectKey(this.resource, object.metadata.namespace, object.metadata.name), async () => {
        deleted.push(
          await deleteObject(this.kind, this.store, object, request).catch((e: unknown) => {
            throw fromStoreError(e);
          }),
        );
      });
    }
    this.sendList(ctx, this.metadataOnly(ctx) ? this.visible(deleted) : await this.decorate(deleted), { resourceVersion });
  }
}

function mergePatch(old: KubeObject, patch: unknown): unknown {
  if (!isObject(patch)) throw badRequest('a merge patch must be a JSON object');
  return jsonMergePatch.apply(clone(old), patch);
}

/**
 * A strategic merge patch of a core kind read as a merge patch: its directives (`$patch`, `$retainKeys`,
 * `$setElementOrder/...`, `$deleteFromPrimitiveList/...`) go. Lists are replaced whole, not merged by key.
 */
function withoutDirectives(patch: unknown): unknown {
  if (Array.isArray(patch)) return patch.map(withoutDirectives);
  if (!isObject(patch)) return patch;
  return Object.fromEntries(
    Object.entries(patch)
      .filter(([key]) => !key.startsWith('$'))
      .map(([key, value]) => [key, withoutDirectives(value)]),
  );
}

function jsonPatch(old: KubeObject, patch: unknown): unknown {
  if (!Array.isArray(patch)) throw badRequest('a JSON patch must be a list of operations');
  try {
    return fastJsonPatch.applyPatch(clone(old), patch as Operation[], true, false).newDocument;
  } catch (error) {
    throw new StatusError(
      'Invalid',
      `the server rejected our request due to an error in our request: ${(error as Error).message.split('\n')[0]}`,
    );
  }
}

const propagationPolicies = ['Foreground', 'Background', 'Orphan'];

/** DeleteOptions from the body, when there is one, else from the query (K8S-WIRE §6), validated as kube-apiserver does. */
async function deleteOptions(ctx: Koa.Context): Promise<Record<string, unknown>> {
  const body = await readBody(ctx);
  const value = body.length === 0 ? {} : decode(body, ctx.get('content-type'));
  if (!isObject(value)) throw badRequest('DeleteOptions must be an object');
  if (value.dryRun !== undefined) {
    if (!Array.isArray(value.dryRun) || !value.dryRun.every((v) => typeof v === 'string'))
      throw badRequest('DeleteOptions.dryRun must be a list of strings');
    if (value.dryRun.length > 0) ctx.query.dryRun = value.dryRun as string[];
  }
  const policy = value.propagationPolicy ?? ctx.query.propagationPolicy;
  if (policy !== undefined && !propagationPolicies.includes(String(policy))) {
    throw invalid({ group: 'meta.k8s.io', resource: 'deleteoptions', kind: 'DeleteOptions' }, [
      {
        type: 'FieldValueNotSupported',
        field: 'propagationPolicy',
        message: `Unsupported value: ${JSON.stringify(policy)}: supported values: ${propagationPolicies.map((p) => `"${p}"`).join(', ')}`,
      },
    ]);
  }
  return value;
}

/** kube-apiserver's answer to a write naming another object's uid (a precondition that fails). */
function uidConflict(kind: ResourceKind, name: string, requested: unknown, stored: unknown): StatusError {
  return conflict(
    subjectOf(kind, name),
    `Precondition failed: UID in precondition: ${String(requested)}, UID in object meta: ${String(stored)}`,
  );
}

/** Whether the patch sets metadata.resourceVersion: then it is the patch's precondition, and a Conflict is its answer. */
function namesResourceVersion(body: unknown, type: string): boolean {
  if (type === 'application/json-patch+json')
    return Array.isArray(body) && body.some((op) => isObject(op) && op.path === '/metadata/resourceVersion');
  return isObject(body) && isObject(body.metadata) && body.metadata.resourceVersion !== undefined;
}

/** Mounts the kind's paths: namespaced kinds also list and watch across namespaces. */
/** `locks` serializes writes of one object with the reconciler's corrections of it. */
export function resourceRouter(kind: ResourceKind, store: ResourceStore, locks = new ObjectLocks()): Router {
  const handlers = new ResourceHandlers(kind, servedStore(kind, store), locks);
  const router = new Router();
  const prefix = kind.group ? `/apis/${kind.group}/${kind.version}` : `/api/${kind.version}`;
  const collection = kind.namespaced ? `${prefix}/namespaces/:namespace/${kind.plural}` : `${prefix}/${kind.plural}`;
  const item = `${collection}/:name`;
  const namespaceOf = (ctx: Koa.Context) => (ctx.params.namespace as string | undefined) ?? '';
  const scopeOf = (ctx: Koa.Context): Scope => ({ namespace: namespaceOf(ctx), name: ctx.params.name! });
  // A NUL cannot be in a stored name (PostgreSQL holds none), so nothing is there.
  for (const param of ['namespace', 'name'])
    router.param(param, (value, _ctx, next) => {
      if (value.includes('\u0000')) throw notFound(subjectOf(kind, param === 'name' ? value : ''));
      return next();
    });
  const locked = (ctx: Koa.Context, write: () => Promise<void>) =>
    locks.run(objectKey(storeResource(kind), namespaceOf(ctx), ctx.params.name!), write);
  const listOrWatch = (ctx: Koa.Context) => {
    return watchRequested(ctx.query) ? handlers.watch(ctx, namespaceOf(ctx)) : handlers.list(ctx, namespaceOf(ctx));
  };
  router.get(collection, listOrWatch);
  if (kind.namespaced) router.get(`${prefix}/${kind.plural}`, listOrWatch);
  router.post(collection, (ctx) => handlers.create(ctx, namespaceOf(ctx)));
  router.delete(collection, (ctx) => handlers.deleteCollection(ctx, namespaceOf(ctx)));
  router.get(item, (ctx) => handlers.get(ctx, scopeOf(ctx)));
  router.put(item, (ctx) => locked(ctx, () => handlers.update(ctx, scopeOf(ctx))));
  router.patch(item, (ctx) => locked(ctx, () => handlers.patch(ctx, scopeOf(ctx))));
  router.delete(item, (ctx) => locked(ctx, () => handlers.delete(ctx, scopeOf(ctx))));
  if (kind.statusSubresource) {
    router.get(`${item}/status`, (ctx) => handlers.get(ctx, scopeOf(ctx)));
    router.put(`${item}/status`, (ctx) => locked(ctx, () => handlers.update(ctx, scopeOf(ctx), 'status')));
    router.patch(`${item}/status`, (ctx) => locked(ctx, () => handlers.patch(ctx, scopeOf(ctx), 'status')));
  }
  return router;
}
