// The k8s.io/apimachinery meta/v1 types the kinds and the documents refer to: minimal (only the fields this
// server reads or writes, plus what kubectl shows) but with the names, types and formats kube-apiserver uses.
import { array, boolean, integer, map, object, refersTo, text, type Definition, type Schema } from './schema.ts';

const prefix = 'io.k8s.apimachinery.pkg.apis.meta.v1.';

function define<S extends Schema>(name: string, schema: S): Definition<S> {
  return { name: prefix + name, schema };
}

export const time = define('Time', text('Time is a timestamp in RFC 3339 form, in UTC, to the second.', { format: 'date-time' }));

/** A field holding a meta/v1 Time. */
export function timestamp(description: string) {
  return refersTo(time, text(description, { format: 'date-time' }));
}

const int64 = (description: string, extra: Schema = {}) => integer(description, { format: 'int64', ...extra });
const strings = (description: string) => array(description, text('One entry.'));
const kindField = text(
  'Kind is the REST resource this object represents, in CamelCase. Servers infer it from the endpoint; it cannot be updated.',
);
const apiVersionField = text('APIVersion is the versioned schema of this representation, as <group>/<version>.');

const ownerReference = define(
  'OwnerReference',
  object(
    'OwnerReference identifies an object that owns this one, in the same namespace.',
    {
      apiVersion: text('API version of the owner.'),
      kind: text('Kind of the owner.'),
      name: text('Name of the owner.'),
      uid: text('UID of the owner.'),
      controller: boolean('True when the owner is the managing controller.'),
      blockOwnerDeletion: boolean('True when the owner cannot be deleted from the key-value store before this object is removed.'),
    },
    ['apiVersion', 'kind', 'name', 'uid'],
  ),
);

const fieldsV1 = define('FieldsV1', {
  type: 'object',
  description: 'FieldsV1 is the set of fields a manager owns, in the structured-merge-diff format.',
});

const managedFieldsEntry = define(
  'ManagedFieldsEntry',
  object('ManagedFieldsEntry records which manager owns which fields, for server-side apply.', {
    manager: text('The name of the workflow managing these fields.'),
    operation: text('The operation that made this entry: Apply or Update.'),
    apiVersion: text('The version of the resource the fields are expressed in.'),
    time: timestamp('When these fields were last changed by this manager.'),
    fieldsType: text('The format of fieldsV1; the only value is "FieldsV1".'),
    fieldsV1: refersTo(fieldsV1, { type: 'object', description: 'The fields this manager owns.' }),
    subresource: text('The subresource the fields were written through, empty for the main resource.'),
  }),
);

export const objectMeta = define(
  'ObjectMeta',
  object('ObjectMeta is the metadata every persisted object has.', {
    name: text('Name is unique within a namespace (or the cluster, for cluster-scoped kinds) and cannot be updated.'),
    generateName: text('A prefix the server completes with random characters to make a unique name, used when name is empty.'),
    namespace: text('The namespace the object lives in; empty for cluster-scoped kinds.'),
    uid: text('A unique value for this object over time, set by the server. Read-only.'),
    resourceVersion: text(
      'An opaque value that changes whenever the object changes, used for optimistic concurrency and watch. Read-only.',
    ),
    generation: int64('A sequence number of the desired state, incremented when the spec changes. Read-only.'),
    creationTimestamp: timestamp('When the object was created. Read-only.'),
    deletionTimestamp: timestamp('When the object was asked to be deleted; it goes once its finalizers are removed. Read-only.'),
    deletionGracePeriodSeconds: int64('Seconds allowed for graceful termination before deletion. Read-only.'),
    labels: map('Labels are string keys and values used to organize and select objects.', text('A label value.')),
    annotations: map('Annotations are string keys and values tools use to keep arbitrary metadata.', text('An annotation value.')),
    ownerReferences: array(
      'Objects this object depends on; when all of them are deleted, this object is collected.',
      refersTo(ownerReference),
    ),
    finalizers: strings('Entries that must be removed before the object is deleted from storage.'),
    managedFields: array('Which manager owns which fields, for server-side apply.', refersTo(managedFieldsEntry)),
  }),
);

export const listMeta = define(
  'ListMeta',
  object('ListMeta is the metadata of a list.', {
    resourceVersion: text('The resource version the list was read at, for a following watch.'),
    continue: text('Set when more items are available: pass it as `continue` to read the next page.'),
    remainingItemCount: int64('How many items follow this page, when the server knows it.'),
  }),
);

export const condition = define(
  'Condition',
  object(
    'Condition is one aspect of the current state of an object.',
    {
      type: text('The type of condition, in CamelCase or foo.example.com/CamelCase.', {
        maxLength: 316,
        pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
      }),
      status: text('Status of the condition.', { enum: ['True', 'False', 'Unknown'] }),
      observedGeneration: int64('The metadata.generation this condition was set for.', { minimum: 0 }),
      lastTransitionTime: timestamp('When the condition last changed from one status to another.'),
      reason: text('A CamelCase reason for the last transition, for machines.', {
        minLength: 1,
        maxLength: 1024,
        pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
      }),
      message: text('A human readable message about the last transition.', { maxLength: 32768 }),
    },
    ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
  ),
);

const labelSelectorRequirement = define(
  'LabelSelectorRequirement',
  object(
    'A label key, an operator and values.',
    {
      key: text('The label key the selector applies to.'),
      operator: text('How the key relates to the values.', { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] }),
      values: strings('The values: non-empty for In and NotIn, empty for Exists and DoesNotExist.'),
    },
    ['key', 'operator'],
  ),
);

export const labelSelector = define(
  'LabelSelector',
  object('A label query over objects; its terms are ANDed, and an empty selector matches everything.', {
    matchLabels: map('Labels that must be present with exactly these values.', text('A label value.')),
    matchExpressions: array('Requirements on labels.', refersTo(labelSelectorRequirement)),
  }),
);

const statusCause = define(
  'StatusCause',
  object('StatusCause is one cause of an error, often a field.', {
    reason: text('A machine-readable description of the cause, e.g. FieldValueRequired.'),
    message: text('A human-readable description of the cause.'),
    field: text('The field that caused the error, e.g. spec.permissions[0].database.'),
  }),
);

const statusDetails = define(
  'StatusDetails',
  object('StatusDetails names the object an error is about and its causes.', {
    name: text('The name of the object.'),
    group: text('The API group of the object.'),
    kind: text('The kind of the object.'),
    uid: text('The UID of the object.'),
    causes: array('Every cause of the error.', refersTo(statusCause)),
    retryAfterSeconds: integer('Seconds to wait before retrying, when the error is temporary.'),
  }),
);

export const status = define('Status', {
  ...object('Status is the result of an operation that returns no object, and the body of every error.', {
    apiVersion: apiVersionField,
    kind: kindField,
    metadata: refersTo(listMeta, { type: 'object', description: 'Standard list metadata.' }),
    status: text('Success or Failure.'),
    message: text('A human-readable description of the result.'),
    reason: text('A machine-readable reason, e.g. NotFound or Invalid.'),
    details: refersTo(statusDetails, { type: 'object', description: 'Details of the error, when the reason has them.' }),
    code: integer('The HTTP status code.'),
  }),
  'x-kubernetes-group-version-kind': [{ group: '', kind: 'Status', version: 'v1' }],
});

const preconditions = define(
  'Preconditions',
  object('Preconditions must hold for an operation to run.', {
    uid: text('The object must have this UID.'),
    resourceVersion: text('The object must have this resource version.'),
  }),
);

export const deleteOptions = define(
  'DeleteOptions',
  object('DeleteOptions may be given when deleting an object.', {
    apiVersion: apiVersionField,
    kind: kindField,
    dryRun: strings('All: check and report, change nothing.'),
    gracePeriodSeconds: int64('Seconds before the object is deleted; zero deletes now.'),
    orphanDependents: boolean('Deprecated: use propagationPolicy.'),
    preconditions: refersTo(preconditions, { type: 'object', description: 'Must hold for the deletion to happen.' }),
    propagationPolicy: text('Whether and how dependents are deleted: Orphan, Background or Foreground.'),
  }),
);

export const patch = define('Patch', { type: 'object', description: 'The body of a PATCH request, in the format its Content-Type names.' });

/** The standard fields every kind has before its spec. */
export const objectFields = {
  apiVersion: apiVersionField,
  kind: kindField,
  metadata: refersTo(objectMeta, { type: 'object', description: "Standard object's metadata." }),
};

export const listFields = {
  apiVersion: apiVersionField,
  kind: kindField,
  metadata: refersTo(listMeta, { type: 'object', description: 'Standard list metadata.' }),
};
