import { ReplicationError } from '../../errors';
import { ByteReader } from './byte-reader';
import {
  BLOCK_PREFIX_BYTES,
  FORMAT_VERSION,
  FRAME_HEADER_BYTES,
  FRAME_MAGIC,
  FRAME_TYPE_CODES,
  MAX_BLOCK_SIZE,
  MAX_JSON_FRAME_BYTES,
  StreamHeader,
  StreamTrailer,
  type BlockFrame,
} from './format';

// Turns bytes into frames, checking only what a frame can say about itself: magic, version, type,
// length limits, JSON schemas. What depends on the replica (sizes, order, generation) is checked
// by the receiver (stream/validator.ts).

export type DecodedFrame =
  | { type: 'header'; header: StreamHeader; raw: Buffer[] }
  | { type: 'block'; block: BlockFrame; raw: Buffer[] }
  | { type: 'trailer'; trailer: StreamTrailer; raw: Buffer[] };

const TYPES = new Map(Object.entries(FRAME_TYPE_CODES).map(([k, v]) => [v, k]));

function invalid(message: string, details: Record<string, unknown> = {}): ReplicationError {
  return new ReplicationError('STREAM_INVALID', message, { details });
}

function parseJson<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: Array<{ path: PropertyKey[]; message: string }> } } }, body: Buffer, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw invalid(`delta stream ${what} is not valid JSON`);
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    const first = r.error.issues[0];
    throw invalid(`delta stream ${what} is invalid: ${first.path.map(String).join('.') || '(root)'}: ${first.message}`);
  }
  return r.data;
}

/** Decodes frames from a byte stream; `maxBlockBytes` caps a block's data length. */
export async function* decodeFrames(source: AsyncIterable<Uint8Array>, maxBlockBytes = MAX_BLOCK_SIZE): AsyncGenerator<DecodedFrame> {
  const reader = new ByteReader(source);
  try {
    for (;;) {
      const head = await reader.read(FRAME_HEADER_BYTES);
      if (head === null) return;
      if (head.readUInt16BE(0) !== FRAME_MAGIC) throw invalid('delta stream: bad frame magic', { magic: head.readUInt16BE(0) });
      if (head.readUInt8(2) !== FORMAT_VERSION) throw invalid(`delta stream: unsupported format version ${head.readUInt8(2)}`);
      const type = TYPES.get(head.readUInt8(3));
      const length = head.readUInt32BE(4);
      if (type === undefined) throw invalid(`delta stream: unknown frame type ${head.readUInt8(3)}`);
      if (type === 'block') {
        if (length < BLOCK_PREFIX_BYTES || length - BLOCK_PREFIX_BYTES > maxBlockBytes) {
          throw new ReplicationError('STREAM_OUT_OF_RANGE', `delta stream: block frame of ${length} bytes exceeds the limit`, { details: { length } });
        }
        const prefix = (await reader.read(BLOCK_PREFIX_BYTES)) ?? Buffer.alloc(0);
        if (prefix.length < BLOCK_PREFIX_BYTES) throw new ReplicationError('STREAM_TRUNCATED', 'delta stream ended in a block frame');
        const dataLength = prefix.readUInt32LE(4);
        if (dataLength !== length - BLOCK_PREFIX_BYTES || prefix.readUInt16LE(2) !== 0) throw invalid('delta stream: block frame length fields disagree');
        const offset = prefix.readBigUInt64LE(8);
        if (offset > BigInt(Number.MAX_SAFE_INTEGER)) throw new ReplicationError('STREAM_OUT_OF_RANGE', 'delta stream: block offset too large');
        const data = dataLength === 0 ? Buffer.alloc(0) : await reader.read(dataLength);
        if (data === null) throw new ReplicationError('STREAM_TRUNCATED', 'delta stream ended in a block frame');
        const block: BlockFrame = { fileIndex: prefix.readUInt16LE(0), offset: Number(offset), hash: prefix.subarray(16, 48), data };
        yield { type: 'block', block, raw: [head, prefix, data] };
        continue;
      }
      if (length > MAX_JSON_FRAME_BYTES) throw new ReplicationError('STREAM_OUT_OF_RANGE', `delta stream: ${type} frame of ${length} bytes exceeds the limit`);
      const body = (await reader.read(length)) ?? Buffer.alloc(0);
      if (body.length < length) throw new ReplicationError('STREAM_TRUNCATED', `delta stream ended in the ${type}`);
      if (type === 'header') yield { type, header: parseJson(StreamHeader, body, 'header'), raw: [head, body] };
      else yield { type: 'trailer', trailer: parseJson(StreamTrailer, body, 'trailer'), raw: [head, body] };
    }
  } finally {
    await reader.close();
  }
}
