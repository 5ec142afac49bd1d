import { VmmirrorError } from '../errors';

// The one JSON error shape every command prints under --json. Plain TypeScript, no zod: main needs
// it on every failing run (even `vmmirror status` with no agent), and the schema that documents it
// (output.ts ErrorDocument) would cost the whole zod load on the CLI's start-up path.

export interface ErrorDocumentShape {
  Error: { Code: string; Message: string; Details?: Record<string, unknown> };
}

/** The one JSON error shape every command prints under --json. */
export function errorDocument(err: unknown): ErrorDocumentShape {
  if (err instanceof VmmirrorError) {
    const details = Object.keys(err.details).length > 0 ? err.details : undefined;
    return { Error: { Code: err.code, Message: err.message, ...(details ? { Details: details } : {}) } };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { Error: { Code: 'INTERNAL', Message: message } };
}
