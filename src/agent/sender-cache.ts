import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ReplicationError } from '../errors';
import type { PeerConnection } from '../peer';
import { ManifestFile, digestManifestFile } from '../replication';
import { writeFileAtomic } from '../config/write';
import { ManifestFetch } from './messages';
import type { StreamRouter } from './stream-router';

// P's copy of S's manifests, keyed by (generation, manifest digest). S is the authority (DESIGN I2):
// at each cycle start S states what it holds; a copy that does not match exactly is fetched again
// and checked against S's digest before use. Never trusted from P's own memory of what it sent.

interface CacheIndex {
  generation: number;
  files: Record<string, string>;
}

export interface ReplicaHolds {
  generation: number;
  files: Array<{ name: string; manifestDigest: string }>;
}

/** Opens manifests matching what S holds, fetching stale ones; the caller closes them. */
export async function manifestsFor(o: {
  dir: string;
  module: string;
  blockSize: number;
  holds: ReplicaHolds;
  conn: PeerConnection;
  router: StreamRouter;
  names: string[];
  timeoutMs: number;
}): Promise<{ manifests: Map<string, ManifestFile | null>; fetchedBytes: number }> {
  await mkdir(o.dir, { recursive: true, mode: 0o700 });
  const index = await readIndex(o.dir);
  const manifests = new Map<string, ManifestFile | null>();
  let fetchedBytes = 0;
  try {
    for (const name of o.names) {
      const held = o.holds.files.find((f) => f.name === name);
      if (held === undefined) {
        manifests.set(name, null);
        continue;
      }
      const path = join(o.dir, `${encodeURIComponent(name)}.manifest`);
      if (index?.generation === o.holds.generation && index.files[name] === held.manifestDigest) {
        const m = await ManifestFile.open(path, 'r').catch(() => null);
        if (m !== null) {
          manifests.set(name, m);
          continue;
        }
      }
      fetchedBytes += await fetchManifest(o, name, path, held.manifestDigest);
      manifests.set(name, await ManifestFile.open(path, 'r'));
    }
    await writeFileAtomic(join(o.dir, 'index.json'), JSON.stringify({ generation: o.holds.generation, files: Object.fromEntries(o.holds.files.map((f) => [f.name, f.manifestDigest])) } satisfies CacheIndex));
    return { manifests, fetchedBytes };
  } catch (err) {
    for (const m of manifests.values()) await m?.close();
    throw err;
  }
}

async function readIndex(dir: string): Promise<CacheIndex | null> {
  try {
    return JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as CacheIndex;
  } catch {
    return null;
  }
}

async function fetchManifest(o: { module: string; blockSize: number; conn: PeerConnection; router: StreamRouter; timeoutMs: number }, name: string, path: string, digest: string): Promise<number> {
  const streamId = o.conn.issueStreamId();
  const incoming = o.router.expect(streamId, o.timeoutMs);
  incoming.catch(() => undefined);
  const reply = await o.conn.request(ManifestFetch, { module: o.module, name, streamId }, { timeoutMs: o.timeoutMs });
  if (reply.manifestDigest !== digest) throw new ReplicationError('MANIFEST_MISMATCH', `module ${o.module}: replica manifest of ${name} changed during the cycle`);
  const tmp = `${path}.fetch`;
  const out = createWriteStream(tmp, { mode: 0o600 });
  let bytes = 0;
  const readable = await incoming;
  readable.on('data', (c: Buffer) => (bytes += c.length));
  await pipeline(readable, out);
  const m = await ManifestFile.open(tmp, 'r');
  try {
    const got = await digestManifestFile(m, o.blockSize);
    if (got !== digest) throw new ReplicationError('MANIFEST_MISMATCH', `module ${o.module}: fetched manifest of ${name} does not match the replica's digest`);
  } catch (err) {
    await m.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await m.close();
  await rename(tmp, path);
  return bytes;
}
