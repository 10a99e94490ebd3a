// "Make the catalog match this object now", as the loops ask it of a stored object: the same admission, claims
// and write a request runs, or the same deletion, with the Warnings in the outcome instead of response headers.
import type { KubeObject } from '../../openapi/objects.ts';
import type { ResourceStore } from '../../storage/objects/types.ts';
import { deleteObject } from './delete.ts';
import { storeResource, type ResourceKind, type WriteContext } from './resource.ts';

export interface Outcome {
  /** The object as stored afterwards. */
  object: KubeObject;
  /** Whether the write ran: not when the server cannot be read now (a Warning says why). */
  written: boolean;
  /** Whether the object's status was read from the catalog after the write's SQL. */
  statusIsLive: boolean;
  warnings: string[];
}

/** A write that is no dry run and collects its Warnings. */
function collecting(): { context: WriteContext; warnings: string[] } {
  const warnings: string[] = [];
  // Advice is for a person applying the object; the kinds record an Event where it matters later.
  return { context: { dryRun: false, warn: (text) => warnings.push(text), advise: () => undefined }, warnings };
}

/**
 * Runs the kind's admission and write on a stored object and stores what the write recorded (an object stored
 * while its server could not be read claims its names now, before its first SQL). A refusal throws.
 */
export async function writeStored(kind: ResourceKind, store: ResourceStore, object: KubeObject): Promise<Outcome> {
  const { context, warnings } = collecting();
  const admission = kind.strategy.admit ? await kind.strategy.admit(object, object, context) : { claims: [] };
  await store.claim(storeResource(kind), object, admission.claims);
  if (!admission.write) return { object, written: false, statusIsLive: false, warnings };
  const { object: written, statusIsLive } = await admission.write(object);
  if (JSON.stringify(written.status) === JSON.stringify(object.status)) return { object, written: true, statusIsLive, warnings };
  const stored = await store.update(storeResource(kind), written, { expectedResourceVersion: String(object.metadata.resourceVersion) });
  return { object: stored, written: true, statusIsLive, warnings };
}

/** Deletes a stored object again (its drop failed before): finalizers, the kind's reclaim, then the store. */
export async function deleteStored(kind: ResourceKind, store: ResourceStore, object: KubeObject): Promise<Outcome> {
  const { context, warnings } = collecting();
  const after = await deleteObject(kind, store, object, context);
  return { object: after, written: true, statusIsLive: false, warnings };
}
