import type { z } from 'zod';

// A request type: its wire name and the zod schemas of its body and reply. Both ends validate:
// the sender before sending (a bug stays local), the receiver before its handler runs.

export interface RequestDef<B extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> {
  readonly type: string;
  readonly body: B;
  readonly reply: R;
}

/** Declares a request type shared by both ends of the link. */
export function defineRequest<B extends z.ZodType, R extends z.ZodType>(type: string, body: B, reply: R): RequestDef<B, R> {
  if (!/^[a-z][a-z0-9.-]{0,63}$/.test(type)) throw new RangeError(`request type ${JSON.stringify(type)}: lower-case, digits, '.', '-'`);
  return { type, body, reply };
}

/** Handler of one request type; what it returns (or throws, as a VmmirrorError) goes back as the reply. */
export type RequestHandler<B extends z.ZodType, R extends z.ZodType, C> = (body: z.output<B>, connection: C) => Promise<z.input<R>> | z.input<R>;
