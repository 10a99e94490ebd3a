// Field errors: what is wrong with one field of an object, as kube-apiserver's 422 causes name it.

export type FieldErrorType =
  | 'FieldValueInvalid'
  | 'FieldValueRequired'
  | 'FieldValueNotSupported'
  | 'FieldValueForbidden'
  | 'FieldValueDuplicate'
  | 'FieldValueTooLong'
  | 'FieldValueNotFound';

export interface FieldError {
  type: FieldErrorType;
  /** e.g. spec.permissions[0].schemas[1].privileges[2] */
  field: string;
  message: string;
}
