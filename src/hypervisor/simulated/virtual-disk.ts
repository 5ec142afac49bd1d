import { randomUUID } from 'node:crypto';
import { open, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HypervisorError } from '../../errors';
import { runOk } from '../../util/exec';
import { batReader, crc32c, guidToBytes, payloadBatIndex, readVhdxLayout, type BatReader, type VhdxLayout } from '../../replication/vhdx';

// A disk as the simulated guest sees it: virtual offsets in, file bytes out. Raw files map 1:1.
// VHDX payload blocks that are present are written in place at the offset the BAT gives (the
// way Hyper-V writes a fixed disk); a block not yet allocated (dynamic disk) is written through
// qemu-io, which allocates it, and the layout is then re-read.

export interface VirtualDisk {
  readonly path: string;
  readonly format: 'VHDX' | 'Raw';
  readonly sizeBytes: number;
  write(offset: number, data: Buffer): Promise<void>;
  read(offset: number, length: number): Promise<Buffer>;
  /** Makes written bytes durable. */
  sync(): Promise<void>;
  /** Ends a write session (the guest moved to an overlay): the next data write renews DataWriteGuid again. */
  endWriteSession(): void;
  /** Changes whenever anyone writes the file: VHDX DataWriteGuid, raw size and mtime. */
  writeStamp(): Promise<string>;
  close(): Promise<void>;
}

interface VhdxState {
  layout: VhdxLayout;
  bat: BatReader;
}

/** Rewrites both VHDX headers with a fresh DataWriteGuid (and FileWriteGuid), as a writer must before its first visible data write. */
async function renewDataWriteGuid(fh: FileHandle, layout: VhdxLayout): Promise<void> {
  const cur = layout.currentHeader;
  const buf = Buffer.alloc(4096);
  await fh.read(buf, 0, 4096, cur.fileOffset);
  let seq = cur.sequenceNumber;
  const fileGuid = guidToBytes(randomUUID());
  const dataGuid = guidToBytes(randomUUID());
  // Older slot first, then the other: a crash in between leaves one valid current header.
  const slots = cur.slot === 1 ? [128 * 1024, 64 * 1024] : [64 * 1024, 128 * 1024];
  for (const at of slots) {
    seq += 1n;
    buf.writeBigUInt64LE(seq, 8);
    fileGuid.copy(buf, 16);
    dataGuid.copy(buf, 32);
    buf.writeUInt32LE(0, 4);
    buf.writeUInt32LE(crc32c(buf), 4);
    await fh.write(buf, 0, 4096, at);
    await fh.sync();
  }
}

async function loadVhdx(fh: FileHandle, path: string): Promise<VhdxState> {
  const layout = await readVhdxLayout(fh, { path });
  if (layout.hasParent) throw new HypervisorError('HYPERVISOR_ERROR', `simulated host: differencing disks are not supported (${path})`, { details: { path } });
  if (layout.logActive) throw new HypervisorError('HYPERVISOR_ERROR', `simulated host: ${path} has a VHDX log to replay; open it with qemu-img check -r all first`, { details: { path } });
  return { layout, bat: batReader(layout, fh) };
}

async function qemuIoWrite(path: string, offset: number, data: Buffer): Promise<void> {
  const tmp = join(tmpdir(), `vmmirror-sim-${randomUUID()}.bin`);
  await writeFile(tmp, data);
  try {
    await runOk('qemu-io', ['-f', 'vhdx', '-c', `write -q -s ${tmp} ${offset} ${data.length}`, path], { timeoutMs: 30_000 });
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Opens a disk for virtual reads and (mode 'r+') writes. */
export async function openVirtualDisk(path: string, format: 'VHDX' | 'Raw', mode: 'r' | 'r+' = 'r+'): Promise<VirtualDisk> {
  let fh = await open(path, mode);
  if (format === 'Raw') {
    const size = (await fh.stat()).size;
    return {
      path, format, sizeBytes: size,
      async write(offset, data) {
        checkRange(path, size, offset, data.length);
        await fh.write(data, 0, data.length, offset);
      },
      async read(offset, length) {
        checkRange(path, size, offset, length);
        const buf = Buffer.alloc(length);
        await fh.read(buf, 0, length, offset);
        return buf;
      },
      sync: () => fh.sync(),
      endWriteSession: () => undefined,
      async writeStamp() {
        const st = await fh.stat();
        return `raw:${st.size}:${st.mtimeMs}`;
      },
      close: () => fh.close(),
    };
  }
  let st = await loadVhdx(fh, path);
  let guidRenewed = false;
  const size = st.layout.virtualDiskSize;
  // Walks [offset, offset+length) block by block: `fileOffset` null = block not present.
  async function* pieces(offset: number, length: number): AsyncGenerator<{ at: number; n: number; fileOffset: number | null }> {
    let pos = offset;
    const end = offset + length;
    while (pos < end) {
      const block = Math.floor(pos / st.layout.blockSize);
      const inBlock = pos - block * st.layout.blockSize;
      const n = Math.min(st.layout.blockSize - inBlock, end - pos);
      const e = await st.bat.entry(payloadBatIndex(st.layout, block));
      yield { at: pos, n, fileOffset: e.presence === 'full' ? e.fileOffset + inBlock : null };
      pos += n;
    }
  }
  return {
    path, format, sizeBytes: size,
    async write(offset, data) {
      checkRange(path, size, offset, data.length);
      for await (const p of pieces(offset, data.length)) {
        const chunk = data.subarray(p.at - offset, p.at - offset + p.n);
        if (p.fileOffset !== null) {
          if (!guidRenewed) {
            await renewDataWriteGuid(fh, st.layout);
            guidRenewed = true;
          }
          await fh.write(chunk, 0, chunk.length, p.fileOffset);
        } else {
          // qemu-io allocates the block (and renews DataWriteGuid itself); re-read what moved.
          await fh.close();
          await qemuIoWrite(path, p.at, chunk);
          fh = await open(path, mode);
          st = await loadVhdx(fh, path);
          guidRenewed = false;
        }
      }
    },
    async read(offset, length) {
      checkRange(path, size, offset, length);
      const out = Buffer.alloc(length);
      for await (const p of pieces(offset, length)) {
        if (p.fileOffset !== null) await fh.read(out, p.at - offset, p.n, p.fileOffset);
      }
      return out;
    },
    sync: () => fh.sync(),
    endWriteSession() {
      guidRenewed = false;
    },
    async writeStamp() {
      return `vhdx:${(await readVhdxLayout(fh, { path })).dataWriteGuid}`;
    },
    close: () => fh.close(),
  };
}

function checkRange(path: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new HypervisorError('HYPERVISOR_ERROR', `simulated disk ${path}: range ${offset}+${length} is outside its ${size} bytes`, { details: { path, offset, length, size } });
  }
}

/** Facts about a disk file for VmInfo: virtual size, fixed or dynamic, file size. */
export async function describeDisk(path: string, format: 'VHDX' | 'Raw'): Promise<{ sizeBytes: number; type: 'Fixed' | 'Dynamic'; fileSizeBytes: number }> {
  const fh = await open(path, 'r');
  try {
    const fileSizeBytes = (await fh.stat()).size;
    if (format === 'Raw') return { sizeBytes: fileSizeBytes, type: 'Fixed', fileSizeBytes };
    const layout = await readVhdxLayout(fh, { path });
    return { sizeBytes: layout.virtualDiskSize, type: layout.leaveBlocksAllocated ? 'Fixed' : 'Dynamic', fileSizeBytes };
  } finally {
    await fh.close();
  }
}
