import { z } from 'zod';
import { VmmirrorError } from '../errors';

// The JSON output contract (docs/output.md): PascalCase, ISO 8601 UTC, bytes, milliseconds.

export const ErrorDocument = z.object({
  Error: z.object({
    Code: z.string(),
    Message: z.string(),
    Details: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type ErrorDocument = z.infer<typeof ErrorDocument>;

/** The one JSON error shape every command prints under --json. */
export function errorDocument(err: unknown): ErrorDocument {
  if (err instanceof VmmirrorError) {
    const details = Object.keys(err.details).length > 0 ? err.details : undefined;
    return { Error: { Code: err.code, Message: err.message, ...(details ? { Details: details } : {}) } };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { Error: { Code: 'INTERNAL', Message: message } };
}

/** Parses a command's output through its schema, so what we print is what we documented. */
export function emit<T extends z.ZodType>(schema: T, value: z.input<T>): z.output<T> {
  return schema.parse(value);
}
