import { PeerError } from '../errors';

// Wire format of every frame (docs/peer-link.md):
//   0  u8   magic 0xA7
//   1  u8   protocol version (1)
//   2  u8   type: 1 control (JSON), 2 data (stream bytes)
//   3  u8   flags: reserved, must be 0
//   4  u32  channel (big-endian): 0 for control, the stream's channel for data
//   8  u32  payload length (big-endian), at most maxPayload
//  12       payload

export const FRAME_MAGIC = 0xa7;
export const PROTOCOL_VERSION = 1;
export const HEADER_BYTES = 12;
export const DEFAULT_MAX_PAYLOAD = 4 * 1024 * 1024;
/** No configuration may raise the frame limit past this. */
export const ABSOLUTE_MAX_PAYLOAD = 64 * 1024 * 1024;

export type FrameType = 'control' | 'data';
const TYPE_CODES: Record<FrameType, number> = { control: 1, data: 2 };

export interface Frame {
  type: FrameType;
  channel: number;
  payload: Buffer;
}

/** Why a byte sequence is not a valid frame; carried as PeerError details.reason. */
export type FrameErrorReason =
  | 'bad-magic'
  | 'bad-version'
  | 'bad-type'
  | 'bad-flags'
  | 'bad-channel'
  | 'oversize'
  | 'empty'
  | 'truncated';

function protocolError(reason: FrameErrorReason, message: string, details: Record<string, unknown> = {}): PeerError {
  return new PeerError('PEER_PROTOCOL', message, { details: { reason, ...details } });
}

/** Encodes one frame's 12-byte header; the payload is written after it unchanged. */
export function encodeHeader(type: FrameType, channel: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES);
  h[0] = FRAME_MAGIC;
  h[1] = PROTOCOL_VERSION;
  h[2] = TYPE_CODES[type];
  h[3] = 0;
  h.writeUInt32BE(channel >>> 0, 4);
  h.writeUInt32BE(length >>> 0, 8);
  return h;
}

/** Encodes a whole frame (header + payload) into one buffer. */
export function encodeFrame(frame: Frame): Buffer {
  return Buffer.concat([encodeHeader(frame.type, frame.channel, frame.payload.length), frame.payload]);
}

/**
 * Streaming frame parser. Holds at most one incomplete frame (header + maxPayload bytes); checks the
 * header as soon as its 12 bytes arrive, so an oversize or foreign frame is refused before its
 * payload is buffered. After the first error it stays failed.
 */
export class FrameDecoder {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private header: { type: FrameType; channel: number; length: number } | undefined;
  private failure: PeerError | undefined;

  constructor(readonly maxPayload: number = DEFAULT_MAX_PAYLOAD) {
    if (!Number.isInteger(maxPayload) || maxPayload < 1024 || maxPayload > ABSOLUTE_MAX_PAYLOAD) {
      throw new RangeError(`maxPayload must be an integer in [1024, ${ABSOLUTE_MAX_PAYLOAD}]`);
    }
  }

  /** Bytes currently held (never more than HEADER_BYTES + maxPayload). */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Feeds bytes; returns the frames they complete. Throws PeerError PEER_PROTOCOL on invalid input. */
  push(chunk: Buffer): Frame[] {
    if (this.failure) throw this.failure;
    const frames: Frame[] = [];
    let rest = chunk;
    try {
      while (rest.length > 0) {
        const need = this.header ? HEADER_BYTES + this.header.length - this.buffered : HEADER_BYTES - this.buffered;
        const take = Math.min(need, rest.length);
        this.chunks.push(rest.subarray(0, take));
        this.buffered += take;
        rest = rest.subarray(take);
        if (take < need) break;
        if (!this.header) {
          this.header = this.parseHeader(Buffer.concat(this.chunks, this.buffered));
          continue;
        }
        const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
        frames.push({ type: this.header.type, channel: this.header.channel, payload: all.subarray(HEADER_BYTES) });
        this.chunks.length = 0;
        this.buffered = 0;
        this.header = undefined;
      }
    } catch (err) {
      this.failure = err as PeerError;
      this.chunks.length = 0;
      this.buffered = 0;
      throw err;
    }
    return frames;
  }

  /** Declares the input finished; throws if it stopped in the middle of a frame. */
  end(): void {
    if (this.failure) throw this.failure;
    if (this.buffered > 0) {
      this.failure = protocolError('truncated', `input ended inside a frame (${this.buffered} bytes of it received)`, {
        bufferedBytes: this.buffered,
      });
      throw this.failure;
    }
  }

  private parseHeader(h: Buffer): { type: FrameType; channel: number; length: number } {
    if (h[0] !== FRAME_MAGIC) throw protocolError('bad-magic', `not a vmmirror frame (first byte 0x${h[0]!.toString(16)})`);
    if (h[1] !== PROTOCOL_VERSION) {
      throw protocolError('bad-version', `unsupported frame version ${h[1]} (this side speaks ${PROTOCOL_VERSION})`, { version: h[1] });
    }
    const type = h[2] === 1 ? 'control' : h[2] === 2 ? 'data' : undefined;
    if (!type) throw protocolError('bad-type', `unknown frame type ${h[2]}`, { frameType: h[2] });
    if (h[3] !== 0) throw protocolError('bad-flags', `unknown frame flags 0x${h[3]!.toString(16)}`, { flags: h[3] });
    const channel = h.readUInt32BE(4);
    const length = h.readUInt32BE(8);
    if ((type === 'control') !== (channel === 0)) {
      throw protocolError('bad-channel', `${type} frame on channel ${channel}`, { channel });
    }
    if (length > this.maxPayload) {
      throw protocolError('oversize', `frame payload of ${length} bytes exceeds the limit of ${this.maxPayload}`, {
        length,
        limit: this.maxPayload,
      });
    }
    if (length === 0) throw protocolError('empty', `empty ${type} frame`);
    return { type, channel, length };
  }
}
