import { expect } from 'chai';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { readVhdxLayout } from '../../../src/replication/vhdx/layout';
import type { VhdxLayout } from '../../../src/replication/vhdx/layout';
import { batReader, bitmapBatIndex, payloadBatIndex, scanBat } from '../../../src/replication/vhdx/bat';
import type { VhdxFile } from '../../../src/replication/vhdx/file-io';
import { referencedMap } from '../../../src/replication/vhdx/referenced-map';
import { mapVirtualRanges } from '../../../src/replication/vhdx/map-ranges';
import { createVhdx, qemuWrites } from '../../helpers/qemu';
import { seeded } from '../../helpers/seed';
import { tempDir } from '../../helpers/tmp';
import { MiB, expectCode, patch } from './fixtures';

// A VhdxFile that remembers every read, to prove the BAT is read in bounded pieces.
function recording(fh: FileHandle): { file: VhdxFile; reads: Array<{ position: number; length: number }> } {
  const reads: Array<{ position: number; length: number }> = [];
  return {
    reads,
    file: {
      read: (buf, off, len, pos) => {
        reads.push({ position: pos, length: len });
        return fh.read(buf, off, len, pos);
      },
      stat: () => fh.stat(),
    },
  };
}

function batEntryBytes(state: number, offsetMiB: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE((((offsetMiB % 4096) << 20) | state) >>> 0, 0);
  b.writeUInt32LE(Math.floor(offsetMiB / 4096), 4);
  return b;
}

async function withFile<T>(path: string, fn: (layout: VhdxLayout, fh: FileHandle) => Promise<T>): Promise<T> {
  const layout = await readVhdxLayout(path);
  const fh = await open(path, 'r');
  try {
    return await fn(layout, fh);
  } finally {
    await fh.close();
  }
}

describe('src/replication/vhdx/bat', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir('vmmirror-vhdx-bat-')));
  after(() => cleanup());

  // One written block (block 1 of 2 MiB) in a 16 MiB dynamic disk; each test patches its own copy.
  let seq = 0;
  async function oneBlockDisk(): Promise<{ path: string; layout: VhdxLayout; entryAt: (block: number) => number }> {
    const path = join(dir, `one-${seq++}.vhdx`);
    await createVhdx(path, { sizeBytes: 16 * MiB, subformat: 'dynamic', blockSizeBytes: 2 * MiB });
    await qemuWrites(path, [{ offset: 2 * MiB + 512, length: 4096, pattern: 0x42 }]);
    const layout = await readVhdxLayout(path);
    return { path, layout, entryAt: (block) => layout.bat.offset + payloadBatIndex(layout, block) * 8 };
  }

  it('interleaves one sector-bitmap entry after every chunkRatio payload entries', async () => {
    const path = join(dir, 'index.vhdx');
    await createVhdx(path, { sizeBytes: 8 * MiB, subformat: 'dynamic' });
    const layout = { ...(await readVhdxLayout(path)), chunkRatio: 4 };
    expect([0, 3, 4, 7, 8].map((b) => payloadBatIndex(layout, b))).to.deep.equal([0, 3, 5, 8, 10]);
    expect([0, 1, 2].map((c) => bitmapBatIndex(layout, c))).to.deep.equal([4, 9, 14]);
  });

  it('decodes the states and offsets qemu writes', async () => {
    const { path, layout } = await oneBlockDisk();
    await withFile(path, async (l, fh) => {
      const bat = batReader(l, fh);
      const used = await bat.entry(payloadBatIndex(layout, 1));
      expect(used).to.include({ kind: 'payload', number: 1, state: 6, presence: 'full' });
      expect(used.fileOffset % MiB).to.equal(0);
      expect(used.fileOffset).to.be.at.least(4 * MiB);
      expect(await bat.entry(payloadBatIndex(layout, 0))).to.include({ state: 2, presence: 'absent' });
      const seen: number[] = [];
      await scanBat(l, fh, (e) => seen.push(e.state));
      // qemu marks never-written blocks PAYLOAD_BLOCK_ZERO (its block_state_zero default).
      expect(seen).to.deep.equal([2, 6, 2, 2, 2, 2, 2, 2]);
    });
  });

  it('reads ZERO, UNMAPPED, UNDEFINED and the v0.95 unmapped state as not present', async () => {
    const { path, entryAt } = await oneBlockDisk();
    for (const [block, state] of [[0, 1], [2, 2], [3, 3], [4, 5]] as const) await patch(path, entryAt(block), batEntryBytes(state, 0));
    await withFile(path, async (layout, fh) => {
      const map = await referencedMap(layout, fh);
      expect(map.presentPayloadBlocks).to.equal(1);
      expect(await mapVirtualRanges(layout, fh, [{ offset: 0, length: 2 * MiB }, { offset: 4 * MiB, length: 6 * MiB }])).to.deep.equal([]);
    });
  });

  it('keeps the old file space of UNMAPPED and UNDEFINED blocks that still name it, and ignores impossible ones', async () => {
    const { path, layout, entryAt } = await oneBlockDisk();
    const used = await withFile(path, (l, fh) => batReader(l, fh).entry(payloadBatIndex(layout, 1)));
    await patch(path, entryAt(1), batEntryBytes(3, used.fileOffset / MiB)); // unmapped, offset kept
    await patch(path, entryAt(2), batEntryBytes(1, layout.fileSize / MiB + 4)); // undefined, offset past EOF
    await patch(path, entryAt(3), batEntryBytes(3, used.fileOffset / MiB)); // unmapped, sharing block 1's old space
    await withFile(path, async (l, fh) => {
      const map = await referencedMap(l, fh);
      expect(map.presentPayloadBlocks).to.equal(0);
      expect(map.retainedPayloadBlocks).to.equal(2);
      expect(map.bytesByKind.retainedPayload).to.equal(2 * MiB);
      expect(map.isReferenced(used.fileOffset / MiB)).to.equal(true);
      expect(await mapVirtualRanges(l, fh, [{ offset: 2 * MiB + 512, length: 4096 }])).to.deep.equal([{ offset: used.fileOffset + 512, length: 4096 }]);
      expect(await mapVirtualRanges(l, fh, [{ offset: 4 * MiB, length: 4096 }])).to.deep.equal([]);
    });
  });

  it('lets a retained block share space with a live one without calling the file corrupt or counting bytes twice', async () => {
    const { path, layout, entryAt } = await oneBlockDisk();
    const used = await withFile(path, (l, fh) => batReader(l, fh).entry(payloadBatIndex(layout, 1)));
    await patch(path, entryAt(4), batEntryBytes(3, used.fileOffset / MiB));
    await withFile(path, async (l, fh) => {
      const map = await referencedMap(l, fh);
      expect(map.presentPayloadBlocks).to.equal(1);
      expect(map.retainedPayloadBlocks).to.equal(1);
      expect(map.bytesByKind.retainedPayload).to.equal(0);
      expect(Object.values(map.bytesByKind).reduce((a, b) => a + b, 0)).to.equal(map.referencedBytes());
    });
  });

  it('refuses a BAT entry pointing past the end of the file with VHDX_INVALID', async () => {
    const { path, layout, entryAt } = await oneBlockDisk();
    await patch(path, entryAt(1), batEntryBytes(6, layout.fileSize / MiB + 10));
    await withFile(path, async (l, fh) => {
      const err = await expectCode(referencedMap(l, fh), 'VHDX_INVALID');
      expect(err.message).to.match(/payload block 1 .*past the end of the file/);
      expect(err.details).to.include({ field: 'bat', path });
      await expectCode(mapVirtualRanges(l, fh, [{ offset: 2 * MiB, length: 512 }]), 'VHDX_INVALID');
    });
  });

  it('refuses a block whose end runs past the end of the file (truncated file) with VHDX_INVALID', async () => {
    const { path, layout } = await oneBlockDisk();
    await withFile(path, async (l, fh) => {
      const cut: VhdxLayout = { ...l, fileSize: layout.fileSize - MiB, sizeAfterReplay: layout.fileSize - MiB };
      await expectCode(referencedMap(cut, fh), 'VHDX_INVALID');
    });
  });

  it('refuses BAT entries pointing into the header section, the log, the BAT or the metadata', async () => {
    const { path, layout, entryAt } = await oneBlockDisk();
    const original = await withFile(path, async (_l, fh) => {
      const b = Buffer.alloc(8);
      await fh.read(b, 0, 8, entryAt(1));
      return b;
    });
    for (const target of [0, layout.log.offset / MiB, layout.bat.offset / MiB, layout.metadataRegion.offset / MiB]) {
      await patch(path, entryAt(1), batEntryBytes(6, target));
      await withFile(path, async (l, fh) => {
        await expectCode(referencedMap(l, fh), 'VHDX_INVALID');
        await expectCode(mapVirtualRanges(l, fh, [{ offset: 2 * MiB, length: 512 }]), 'VHDX_INVALID');
      });
    }
    await patch(path, entryAt(1), original);
    await withFile(path, (l, fh) => referencedMap(l, fh));
  });

  it('refuses two payload blocks sharing file space', async () => {
    const { path, layout, entryAt } = await oneBlockDisk();
    const used = await withFile(path, (l, fh) => batReader(l, fh).entry(payloadBatIndex(layout, 1)));
    await patch(path, entryAt(5), batEntryBytes(6, used.fileOffset / MiB));
    await withFile(path, async (l, fh) => {
      const err = await expectCode(referencedMap(l, fh), 'VHDX_INVALID');
      expect(err.message).to.match(/overlaps another block/);
    });
  });

  it('refuses unknown states and PARTIALLY_PRESENT in a disk without a parent', async () => {
    for (const state of [4, 7]) {
      const { path, entryAt } = await oneBlockDisk();
      await patch(path, entryAt(3), batEntryBytes(state, 0));
      await withFile(path, async (l, fh) => {
        await expectCode(referencedMap(l, fh), 'VHDX_INVALID');
        await expectCode(mapVirtualRanges(l, fh, [{ offset: 6 * MiB, length: 512 }]), 'VHDX_INVALID');
        expect(await mapVirtualRanges(l, fh, [{ offset: 2 * MiB, length: 512 }])).to.have.length(1);
      });
    }
  });

  it('maps a 64 GiB disk reading its BAT only in chunks of the configured size', async () => {
    const path = join(dir, 'big64g.vhdx');
    await createVhdx(path, { sizeBytes: 64 * 1024 * MiB, subformat: 'dynamic', blockSizeBytes: MiB });
    const { int } = seeded('bat-big');
    const writes = Array.from({ length: 8 }, (_, i) => ({ offset: int(i === 0 ? 4096 : 0, 64 * 1024 - 1) * MiB + int(0, 1023) * 512, length: 4096, pattern: 0x30 + i }));
    await qemuWrites(path, writes);
    const layout = await readVhdxLayout(path);
    expect(layout.batEntryCount).to.equal(65536 + 15);
    const fh = await open(path, 'r');
    try {
      const { file, reads } = recording(fh);
      const chunkBytes = 64 * 1024;
      const map = await referencedMap(layout, file, { chunkBytes });
      expect(map.presentPayloadBlocks).to.equal(new Set(writes.map((w) => Math.floor(w.offset / MiB))).size);
      const batReads = reads.filter((r) => r.position >= layout.bat.offset && r.position < layout.bat.offset + layout.bat.length);
      expect(batReads).to.have.length(Math.ceil((layout.batEntryCount * 8) / chunkBytes));
      expect(Math.max(...reads.map((r) => r.length))).to.be.at.most(chunkBytes);
      // Blocks past the first chunk sit behind interleaved sector-bitmap entries: qemu's bytes must be where we point.
      expect(writes.some((w) => w.offset >= layout.chunkRatio * layout.blockSize)).to.equal(true);
      for (const w of writes) {
        const [e, ...rest] = await mapVirtualRanges(layout, file, [w]);
        expect(rest).to.have.length(0);
        const got = Buffer.alloc(w.length);
        await fh.read(got, 0, w.length, e!.offset);
        expect(got.every((b) => b === w.pattern), `write at ${w.offset}`).to.equal(true);
      }
      reads.length = 0;
      const extents = await mapVirtualRanges(layout, file, [...writes, { offset: 0, length: layout.virtualDiskSize }], { chunkBytes: 4096, cacheChunks: 2 });
      expect(extents.reduce((s, e) => s + e.length, 0)).to.equal(map.presentPayloadBlocks * MiB);
      expect(Math.max(...reads.map((r) => r.length))).to.be.at.most(4096);
    } finally {
      await fh.close();
    }
  });

  it('scans a 1 TiB disk whose BAT is 8 MiB with about 1 MiB of buffers', async () => {
    const path = join(dir, 'big1t.vhdx');
    await createVhdx(path, { sizeBytes: 1024 * 1024 * MiB, subformat: 'dynamic', blockSizeBytes: MiB });
    const layout = await readVhdxLayout(path);
    expect(layout.batEntryCount * 8).to.be.greaterThan(8 * 1000 * 1000);
    const fh = await open(path, 'r');
    try {
      const { file, reads } = recording(fh);
      // The reader's own buffers, by identity: a process-wide measure (arrayBuffers) also counts
      // whatever else the test process allocates meanwhile, and made this test flaky.
      const buffers = new Set<ArrayBufferLike>();
      const map = await referencedMap(layout, {
        read: async (buffer, ...rest) => {
          buffers.add(buffer.buffer);
          return file.read(buffer, ...rest);
        },
        stat: file.stat,
      });
      const bufferBytes = [...buffers].reduce((n, b) => n + b.byteLength, 0);

      expect(map.presentPayloadBlocks).to.equal(0);
      expect(Math.max(...reads.map((r) => r.length))).to.be.at.most(MiB);
      // One BAT chunk buffer (reused), nowhere near the 8 MiB BAT.
      expect(bufferBytes).to.be.at.most(2 * MiB);
    } finally {
      await fh.close();
    }
  });
});
