// PostgreSQL identifiers: any string of 1–63 bytes without NUL, always quoted, never concatenated raw.
import pg from 'pg';
import type { FieldError } from '../../openapi/fields.ts';

export const maxIdentifierBytes = 63;

export function identifierError(value: unknown, field: string): FieldError | undefined {
  if (typeof value !== 'string' || value.length === 0) {
    return { type: 'FieldValueRequired', field, message: 'Required value: a PostgreSQL identifier of 1 to 63 bytes' };
  }
  if (value.includes('\0')) return { type: 'FieldValueInvalid', field, message: 'Invalid value: must not contain a NUL character' };
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > maxIdentifierBytes) {
    return {
      type: 'FieldValueTooLong',
      field,
      message: `Too long: ${bytes} bytes, PostgreSQL identifiers have at most ${maxIdentifierBytes}`,
    };
  }
  return undefined;
}

/** "name" with inner double quotes doubled, as PostgreSQL reads it back exactly. */
export function quoteIdent(name: string): string {
  return pg.escapeIdentifier(name);
}

export function quoteLiteral(value: string): string {
  return pg.escapeLiteral(value);
}

export function qualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}
