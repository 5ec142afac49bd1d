import { z } from 'zod';

// The JSON output contract (docs/output.md): PascalCase, ISO 8601 UTC, bytes, milliseconds.
// Loaded by command implementations only (zod is the largest part of the CLI's start-up cost).

export const ErrorDocument = z.object({
  Error: z.object({
    Code: z.string(),
    Message: z.string(),
    Details: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type ErrorDocument = z.infer<typeof ErrorDocument>;

/** The one JSON error shape every command prints under --json (kept in a zod-free file for main). */
export { errorDocument } from './error-document';

/** Parses a command's output through its schema, so what we print is what we documented. */
export function emit<T extends z.ZodType>(schema: T, value: z.input<T>): z.output<T> {
  return schema.parse(value);
}
