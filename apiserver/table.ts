// `kubectl get` output: a meta.k8s.io Table with the kind's columns (K8S-WIRE §3). A row holds its cells and,
// as `includeObject` asks, nothing else (None), the object's metadata (Metadata, the default:
// PartialObjectMetadata) or the whole object (Object: kubectl asks for it to sort with --sort-by), as
// kube-apiserver's handlers/response.go asTable builds them, in the Table's own group version.
import type { KubeObject, PrinterColumn } from '../openapi/objects.ts';
import { StatusError } from '../openapi/status.ts';
import { asPartialObjectMetadata, representationOf, type MetaGroupVersion } from './representation.ts';

export type IncludeObject = 'None' | 'Metadata' | 'Object';

/** Whether Accept asks for a Table (representation.ts negotiates it). */
export function wantsTable(accept: string | undefined): boolean {
  return representationOf(accept).as === 'Table';
}

/** The TableOptions parameter, checked as kube-apiserver checks it (meta/v1beta1/validation ValidateTableOptions). */
export function includeObjectOf(value: string | undefined): IncludeObject {
  if (value === undefined || value === '') return 'Metadata';
  if (value === 'None' || value === 'Metadata' || value === 'Object') return value;
  throw new StatusError(
    'BadRequest',
    `Unable to convert to Table as requested: includeObject: Invalid value: ${JSON.stringify(value)}: must be 'Metadata', 'Object', 'None', or empty`,
  );
}

/** A duration as kubectl shows ages (k8s.io/apimachinery/pkg/util/duration.HumanDuration). */
export function humanDuration(milliseconds: number): string {
  const seconds = Math.floor(milliseconds / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  const both = (big: number, unit: string, small: number, smallUnit: string) =>
    small === 0 ? `${big}${unit}` : `${big}${unit}${small}${smallUnit}`;
  if (minutes < 10) return both(minutes, 'm', seconds % 60, 's');
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return both(hours, 'h', minutes % 60, 'm');
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return both(days, 'd', hours % 24, 'h');
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (hours < 24 * 365 * 8) return both(years, 'y', days % 365, 'd');
  return `${years}y`;
}

/** A date cell shows as an age, as kube-apiserver renders a CRD's date columns. */
function cellOf(column: PrinterColumn, object: KubeObject, now: number): unknown {
  const value = column.cell(object);
  if (column.type === 'date') return typeof value === 'string' ? humanDuration(now - Date.parse(value)) : '<unknown>';
  return value ?? '';
}

function rowObject(object: KubeObject, include: IncludeObject, groupVersion: MetaGroupVersion): unknown {
  return include === 'Object' ? object : asPartialObjectMetadata(object, groupVersion);
}

export interface TableOptions {
  include: IncludeObject;
  /** The Table's group version, which its rows' PartialObjectMetadata share; meta.k8s.io/v1 unless given. */
  groupVersion?: MetaGroupVersion;
  /** Watch events after the first omit the column definitions. */
  withColumns: boolean;
  metadata?: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  now?: number;
}

export function toTable(columns: readonly PrinterColumn[], objects: readonly KubeObject[], options: TableOptions) {
  const now = options.now ?? Date.now();
  const groupVersion = options.groupVersion ?? 'meta.k8s.io/v1';
  return {
    kind: 'Table',
    apiVersion: groupVersion,
    metadata: options.metadata ?? {},
    ...(options.withColumns ? { columnDefinitions: columns.map(({ cell: _, ...definition }) => ({ format: '', ...definition })) } : {}),
    rows: objects.map((object) => ({
      cells: columns.map((c) => cellOf(c, object, now)),
      ...(options.include === 'None' ? {} : { object: rowObject(object, options.include, groupVersion) }),
    })),
  };
}
