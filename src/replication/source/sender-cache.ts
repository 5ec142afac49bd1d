import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { ReplicationError, fromNodeError } from '../../errors';
import { ManifestFile } from '../manifest/manifest-file';
import { digestManifestFile, resizeManifest } from '../manifest/manifest-merge';
import { removeIfExists } from '../util/durable-file';
import { readSentLog } from './sent-log';

// P's copy of S's manifests (DESIGN I2). The copy is used only when its digest equals the digest
// S reports at the start of the cycle; otherwise it is fetched again from S. So a sender that
// crashed after S committed, but before it advanced its copy, can never skip a block that changed
// back to an old value: its stale copy no longer matches S's digest and is replaced.

/** What S reports about one replica file at the start of a cycle. */
export interface RemoteFileState {
  name: string;
  manifestDigest: string;
}

export class SenderCache {
  private constructor(private readonly dir: string) {}

  /** Opens (creating) the cache folder of one module. */
  static async open(dir: string): Promise<SenderCache> {
    await mkdir(dir, { recursive: true, mode: 0o700 }).catch((e: unknown) => {
      throw fromNodeError(e, dir);
    });
    return new SenderCache(dir);
  }

  /** Where createDelta records what it sends (passed as its `sentLog`). */
  get sentLogPath(): string {
    return join(this.dir, 'sent.log');
  }

  /**
   * Returns manifests equal to S's (null: S holds nothing of that file), fetching any whose copy is
   * stale. `fetch(name)` streams S's manifest of `name`; it is checked against S's digest.
   */
  async reconcile(remote: RemoteFileState[], blockSize: number, fetch: (name: string) => Promise<AsyncIterable<Uint8Array> | NodeJS.ReadableStream>): Promise<{ manifests: Map<string, ManifestFile | null>; fetched: string[] }> {
    const manifests = new Map<string, ManifestFile | null>();
    const fetched: string[] = [];
    try {
      for (const f of remote) {
        const empty = await digestManifestFile(null, blockSize);
        if (f.manifestDigest === empty) {
          manifests.set(f.name, null);
          continue;
        }
        const path = this.copyPath(f.name);
        let copy = await ManifestFile.open(path, 'r').catch(() => null);
        if (copy !== null && (copy.blockSize !== blockSize || (await digestManifestFile(copy, blockSize)) !== f.manifestDigest)) {
          await copy.close();
          copy = null;
        }
        if (copy === null) {
          const tmp = `${path}.fetch`;
          await pipeline((await fetch(f.name)) as NodeJS.ReadableStream, createWriteStream(tmp, { mode: 0o600 }));
          const got = await ManifestFile.open(tmp, 'r');
          const digest = await digestManifestFile(got, blockSize);
          await got.close();
          if (digest !== f.manifestDigest) {
            await removeIfExists(tmp);
            throw new ReplicationError('MANIFEST_MISMATCH', `manifest of ${f.name} fetched from the replica does not match the digest it reported`);
          }
          await rename(tmp, path);
          fetched.push(f.name);
          copy = await ManifestFile.open(path, 'r');
        }
        manifests.set(f.name, copy);
      }
      return { manifests, fetched };
    } catch (err) {
      for (const m of manifests.values()) await m?.close();
      throw err;
    }
  }

  /**
   * After S acknowledged a generation: replays the sent log onto the copies so the next cycle needs
   * no fetch. A copy that does not end up equal to S's acknowledged digest is dropped (fetched next time).
   */
  async advance(files: Array<{ name: string; fromSize: number; toSize: number; blockSize: number; manifestDigest: string }>): Promise<void> {
    const copies: Array<ManifestFile | null> = [];
    try {
      for (const f of files) {
        const path = this.copyPath(f.name);
        const m = await ManifestFile.open(path, 'r+').catch(() => (f.fromSize === 0 ? ManifestFile.create(path, f.blockSize) : null));
        if (m !== null) await resizeManifest(m, m.fileSize, f.toSize, f.blockSize);
        copies.push(m);
      }
      for await (const r of readSentLog(this.sentLogPath)) {
        const m = copies[r.fileIndex];
        if (m !== null && m !== undefined) await m.writeEntries(r.index, r.hash);
      }
      for (const [i, f] of files.entries()) {
        const m = copies[i];
        if (m === null) continue;
        const ok = (await digestManifestFile(m, f.blockSize)) === f.manifestDigest;
        await m.close();
        copies[i] = null;
        if (!ok) await removeIfExists(this.copyPath(f.name));
      }
    } finally {
      for (const m of copies) await m?.close().catch(() => undefined);
      await removeIfExists(this.sentLogPath);
    }
  }

  private copyPath(name: string): string {
    return join(this.dir, `${name}.manifest`);
  }
}
