import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createDelta, ReplicaStore, STATE_FOLDER, LOCAL_MODULE, type ManifestFile } from '../../src/replication';
import { FRAME_HEADER_BYTES, frameHeader, jsonFrame } from '../../src/replication/stream/format';

// Builders for hand-made and damaged delta streams, to attack a replica with.

export interface Frame {
  type: number;
  bytes: Buffer;
}

/** Splits a delta stream into its frames (no validation). */
export function splitFrames(stream: Buffer): Frame[] {
  const out: Frame[] = [];
  for (let p = 0; p < stream.length; ) {
    const len = stream.readUInt32BE(p + 4);
    out.push({ type: stream.readUInt8(p + 3), bytes: stream.subarray(p, p + FRAME_HEADER_BYTES + len) });
    p += FRAME_HEADER_BYTES + len;
  }
  return out;
}

/** Replaces the header frame's JSON with `edit(header)`. */
export function editHeader(stream: Buffer, edit: (h: Record<string, unknown>) => void): Buffer {
  const frames = splitFrames(stream);
  const h = JSON.parse(frames[0].bytes.subarray(FRAME_HEADER_BYTES).toString('utf8')) as Record<string, unknown>;
  edit(h);
  frames[0] = { type: 1, bytes: jsonFrame('header', h) };
  return Buffer.concat(frames.map((f) => f.bytes));
}

/** Rewrites one field of the first block frame. */
export function editFirstBlock(stream: Buffer, edit: (frame: Buffer) => Buffer): Buffer {
  const frames = splitFrames(stream);
  const i = frames.findIndex((f) => f.type === 2);
  frames[i] = { type: 2, bytes: edit(Buffer.from(frames[i].bytes)) };
  return Buffer.concat(frames.map((f) => f.bytes));
}

export { frameHeader };

/** Drains a readable into one buffer. */
export async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Opens the local replica folder `rep` for `sources` (as the CLI does). */
export function openLocalStore(rep: string, sources: Array<{ name: string; size?: number }>, maxBytes = Number.MAX_SAFE_INTEGER): Promise<ReplicaStore> {
  return ReplicaStore.open({ stateDir: join(rep, STATE_FOLDER), module: LOCAL_MODULE, targets: sources.map((s) => ({ name: s.name, path: join(rep, s.name), maxBytes })) });
}

/** A valid stream moving `store` one generation forward, as bytes; `manifests` overrides what P believes S holds. */
export async function validStream(store: ReplicaStore, sources: Array<{ name: string; path: string }>, o: { streamId?: string; manifests?: Map<string, ManifestFile | null> } = {}): Promise<{ bytes: Buffer; streamId: string }> {
  const streamId = o.streamId ?? randomBytes(16).toString('hex');
  const manifests = o.manifests ?? new Map<string, ManifestFile | null>();
  const opened: ManifestFile[] = [];
  if (o.manifests === undefined) {
    for (const s of sources) {
      const m = await store.openManifest(s.name);
      manifests.set(s.name, m);
      if (m) opened.push(m);
    }
  }
  try {
    const { stream } = await createDelta({
      module: LOCAL_MODULE,
      streamId,
      blockSize: store.blockSize,
      sources: sources.map((s) => ({ ...s, mode: 'auto' as const })),
      replica: { generation: store.state().Generation, manifests },
    });
    return { bytes: await collect(stream), streamId };
  } finally {
    for (const m of opened) await m.close();
  }
}

/** A stream as a readable of small chunks (like a socket delivers it). */
export function asChunks(bytes: Buffer, chunk = 7919): Readable {
  const parts: Buffer[] = [];
  for (let p = 0; p < bytes.length; p += chunk) parts.push(bytes.subarray(p, p + chunk));
  return Readable.from(parts);
}
