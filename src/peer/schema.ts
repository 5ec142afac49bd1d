import { z } from 'zod';

// Every control frame carries one JSON message of this union; anything else is refused.

const HostName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/);
const Nonce = z.string().regex(/^[0-9a-f]{32}$/);
const RequestId = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const Channel = z.number().int().min(1).max(0xffffffff);
const ErrorCode = z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/);
const Message = z.string().max(4096);

export const HelloMessage = z.object({ kind: z.literal('hello'), protocol: z.number().int().min(1), host: HostName, nonce: Nonce }).strict();
export type HelloMessage = z.infer<typeof HelloMessage>;

export const HeartbeatMessage = z.object({ kind: z.literal('heartbeat'), seq: z.number().int().min(0), sentAt: z.number() }).strict();

export const RequestMessage = z
  .object({ kind: z.literal('request'), id: RequestId, type: z.string().regex(/^[a-z][a-z0-9.-]{0,63}$/), body: z.unknown() })
  .strict();
export type RequestMessage = z.infer<typeof RequestMessage>;

export const ReplyMessage = z.object({ kind: z.literal('reply'), id: RequestId, body: z.unknown() }).strict();

export const ReplyErrorMessage = z
  .object({ kind: z.literal('reply-error'), id: RequestId, code: ErrorCode, message: Message, reason: z.string().max(64).optional() })
  .strict();
export type ReplyErrorMessage = z.infer<typeof ReplyErrorMessage>;

/** Fatal: the sender closes the connection right after it. */
export const ErrorMessage = z.object({ kind: z.literal('error'), code: ErrorCode, message: Message, reason: z.string().max(64) }).strict();

export const StreamOpenMessage = z
  .object({
    kind: z.literal('stream-open'),
    streamId: Nonce,
    channel: Channel,
    compression: z.enum(['none', 'deflate', 'brotli']),
    meta: z.unknown().optional(),
  })
  .strict();
export type StreamOpenMessage = z.infer<typeof StreamOpenMessage>;

/** Receiver -> sender: you may send `bytes` more data bytes on this channel. */
export const StreamCreditMessage = z.object({ kind: z.literal('stream-credit'), channel: Channel, bytes: z.number().int().min(1).max(0xffffffff) }).strict();

/** Sender -> receiver: no more data; `bytes` is the total payload sent, checked by the receiver. */
export const StreamEndMessage = z.object({ kind: z.literal('stream-end'), channel: Channel, bytes: z.number().int().min(0) }).strict();

/** Receiver -> sender: everything arrived and was handed to the reader. */
export const StreamDoneMessage = z.object({ kind: z.literal('stream-done'), channel: Channel }).strict();

/** Either side: the stream is abandoned; the other side's readable / sendStream fails with this code. */
export const StreamAbortMessage = z
  .object({ kind: z.literal('stream-abort'), channel: Channel, code: ErrorCode, message: Message, reason: z.string().max(64).optional() })
  .strict();
export type StreamAbortMessage = z.infer<typeof StreamAbortMessage>;

export const ControlMessage = z.discriminatedUnion('kind', [
  HelloMessage,
  HeartbeatMessage,
  RequestMessage,
  ReplyMessage,
  ReplyErrorMessage,
  ErrorMessage,
  StreamOpenMessage,
  StreamCreditMessage,
  StreamEndMessage,
  StreamDoneMessage,
  StreamAbortMessage,
]);
export type ControlMessage = z.infer<typeof ControlMessage>;
