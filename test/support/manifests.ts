// The deployment manifests as objects: apiservice/manifests/ (one object per file) and any multi-document YAML
// (helm template's output).
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const manifestsDir = fileURLToPath(new URL('../../apiservice/manifests/', import.meta.url));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Manifest = Record<string, any>;

/** The objects of a multi-document YAML text; a syntax error throws, empty documents are left out. */
export function parseDocuments(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((document) => {
      if (document.errors.length > 0) throw document.errors[0];
      return document.toJS() as Manifest | null;
    })
    .filter((object): object is Manifest => object !== null);
}

/** Each file of apiservice/manifests/ with the objects it holds. */
export function manifestFiles(): { file: string; objects: Manifest[] }[] {
  return readdirSync(manifestsDir)
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .map((file) => ({ file, objects: parseDocuments(readFileSync(manifestsDir + file, 'utf8')) }));
}

/** Objects by `kind namespace/name`, the identity kubectl apply uses. */
export function byIdentity(objects: Manifest[]): Map<string, Manifest> {
  return new Map(objects.map((o) => [`${o.kind} ${o.metadata?.namespace ?? ''}/${o.metadata?.name}`, o]));
}
