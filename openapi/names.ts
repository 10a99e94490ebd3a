// Object names and Secret keys, as kube-apiserver validates them (apimachinery validation: IsDNS1123Subdomain,
// IsDNS1123Label, IsConfigMapKey). A name is a path segment too: "..", "/" and "%" never pass.
import type { FieldError } from './fields.ts';

const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const configKey = /^[-._a-zA-Z0-9]+$/;

/** metadata.name: an RFC 1123 subdomain (at most 253 characters), or a label (63) for kinds that need one. */
export function nameErrors(name: string, label = false): FieldError[] {
  const pattern = label ? dns1123Label : dns1123Subdomain;
  const max = label ? 63 : 253;
  if (name.length <= max && pattern.test(name)) return [];
  const what = label
    ? "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
    : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
  return [
    {
      type: 'FieldValueInvalid',
      field: 'metadata.name',
      message: `Invalid value: ${JSON.stringify(name)}: ${what} (at most ${max} characters)`,
    },
  ];
}

/** A key of a Secret's data: at most 253 of [-._a-zA-Z0-9], and neither "." nor ".." nor starting with "..". */
export function secretKeyErrors(key: string, field: string): FieldError[] {
  if (key.length <= 253 && configKey.test(key) && key !== '.' && !key.startsWith('..')) return [];
  return [
    {
      type: 'FieldValueInvalid',
      field,
      message: `Invalid value: ${JSON.stringify(key)}: a valid config key must consist of alphanumeric characters, '-', '_' or '.' (at most 253, not "." or "..")`,
    },
  ];
}
