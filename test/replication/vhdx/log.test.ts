import { expect } from 'chai';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { readVhdxLayout } from '../../../src/replication/vhdx/layout';
import type { VhdxLayout } from '../../../src/replication/vhdx/layout';
import { referencedMap } from '../../../src/replication/vhdx/referenced-map';
import { mapVirtualRanges } from '../../../src/replication/vhdx/map-ranges';
import { guidToBytes, parseGuid, ZERO_GUID } from '../../../src/replication/vhdx/guid';
import { crc32c } from '../../../src/replication/vhdx/crc32c';
import { findActiveSequence, newLogScanStats, parseLogEntry } from '../../../src/replication/vhdx/log';
import { run } from '../../../src/util/exec';
import { createVhdx, qemuWrites } from '../../helpers/qemu';
import { tempDir } from '../../helpers/tmp';
import { MiB, expectCode, patch, readBytes, rewriteChecksummed } from './fixtures';

const WRITES = [
  { offset: 0, length: 4096, pattern: 0x71 },
  { offset: 5 * MiB + 512, length: 8192, pattern: 0x72 },
];

// qemu leaves its log entries in place after a clean close (each update is its own sequence,
// under a fresh LogGuid). Pointing the headers back at the newest entry's LogGuid and rolling the
// BAT back to "nothing allocated" gives a file whose BAT updates exist only in the log: exactly
// what a crash between log flush and BAT write leaves behind.
async function pendingLogDisk(path: string): Promise<{ entryAt: number; logGuid: string }> {
  await createVhdx(path, { sizeBytes: 64 * MiB, subformat: 'dynamic', blockSizeBytes: MiB });
  await qemuWrites(path, WRITES);
  const log = await readBytes(path, MiB, MiB);
  let best = { at: -1, seq: 0n };
  for (let at = 0; at < log.length; at += 4096) {
    if (log.toString('latin1', at, at + 4) === 'loge' && log.readBigUInt64LE(at + 16) > best.seq) best = { at, seq: log.readBigUInt64LE(at + 16) };
  }
  expect(best.at, 'qemu left log entries').to.be.at.least(0);
  const logGuid = parseGuid(log, best.at + 32);
  for (const at of [64 * 1024, 128 * 1024]) await rewriteChecksummed(path, at, 4096, (b) => guidToBytes(logGuid).copy(b, 48));
  const bat = Buffer.alloc(64 * 8);
  for (let i = 0; i < 64; i++) bat.writeUInt32LE(2, i * 8); // PAYLOAD_BLOCK_ZERO everywhere
  await patch(path, 2 * MiB, bat);
  return { entryAt: MiB + best.at, logGuid };
}

async function view(path: string): Promise<{ layout: VhdxLayout; extents: Array<{ offset: number; length: number }>; mapped: Array<{ offset: number; length: number }>; blocks: number }> {
  const layout = await readVhdxLayout(path);
  const fh = await open(path, 'r');
  try {
    const map = await referencedMap(layout, fh);
    return { layout, extents: [...map.extents()], mapped: await mapVirtualRanges(layout, fh, WRITES), blocks: map.presentPayloadBlocks };
  } finally {
    await fh.close();
  }
}

describe('src/replication/vhdx/log', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir('vmmirror-vhdx-log-')));
  after(() => cleanup());

  it('reads the BAT as the pending log will leave it, and qemu replaying the log agrees', async () => {
    const path = join(dir, 'pending.vhdx');
    const { logGuid } = await pendingLogDisk(path);
    const before = await view(path);
    expect(before.layout.logActive).to.equal(true);
    expect(before.layout.logGuid).to.equal(logGuid);
    expect(before.layout.logReplay?.entryCount).to.equal(1);
    expect(before.layout.logReplay?.writes.map((w) => w.fileOffset)).to.deep.equal([before.layout.bat.offset]);
    expect(before.blocks).to.equal(2);
    // The bytes the pending BAT points at really hold what qemu wrote.
    for (const [i, w] of WRITES.entries()) {
      const fh = await open(path, 'r');
      const [e] = await mapVirtualRanges(before.layout, fh, [w]);
      await fh.close();
      expect(e!.length).to.equal(w.length);
      expect((await readBytes(path, e!.offset, e!.length)).every((b) => b === WRITES[i]!.pattern)).to.equal(true);
    }
    // Ignoring the log would see no data at all.
    const fh = await open(path, 'r');
    const stale = await referencedMap({ ...before.layout, logReplay: undefined }, fh);
    await fh.close();
    expect(stale.presentPayloadBlocks).to.equal(0);

    const check = await run('qemu-img', ['check', '-r', 'all', '-f', 'vhdx', path]);
    expect(check.exitCode, check.stderr).to.equal(0);
    const after = await view(path);
    expect(after.layout.logActive).to.equal(false);
    expect(after.extents).to.deep.equal(before.extents);
    expect(after.mapped).to.deep.equal(before.mapped);
    const read = await run('qemu-io', ['-f', 'vhdx', '-c', `read -P ${WRITES[1]!.pattern} ${WRITES[1]!.offset} ${WRITES[1]!.length}`, path]);
    expect(read.stdout + read.stderr).to.not.match(/verification failed/i);
  });

  it('ignores log entries written under another LogGuid', async () => {
    const path = join(dir, 'other-guid.vhdx');
    await pendingLogDisk(path);
    for (const at of [64 * 1024, 128 * 1024]) await rewriteChecksummed(path, at, 4096, (b) => guidToBytes('0F0E0D0C-0B0A-0908-0706-050403020100').copy(b, 48));
    const v = await view(path);
    expect(v.layout.logActive).to.equal(true);
    expect(v.layout.logReplay).to.equal(undefined);
    expect(v.blocks).to.equal(0);
  });

  it('ignores a log entry whose checksum fails', async () => {
    const path = join(dir, 'torn.vhdx');
    const { entryAt } = await pendingLogDisk(path);
    const b = await readBytes(path, entryAt + 4096 + 100, 1);
    await patch(path, entryAt + 4096 + 100, Buffer.from([b[0]! ^ 0xff]));
    const v = await view(path);
    expect(v.layout.logReplay).to.equal(undefined);
    expect(v.blocks).to.equal(0);
  });

  it('refuses a file shorter than the FlushedFileOffset its log recorded', async () => {
    const path = join(dir, 'short.vhdx');
    const { entryAt } = await pendingLogDisk(path);
    const entry = await readBytes(path, entryAt, 8192);
    entry.writeBigUInt64LE(BigInt(1024 * MiB), 48);
    entry.writeUInt32LE(0, 4);
    entry.writeUInt32LE(crc32c(entry.subarray(0, entry.readUInt32LE(8))), 4);
    await patch(path, entryAt, entry);
    const err = await expectCode(readVhdxLayout(path), 'VHDX_INVALID');
    expect(err.details.field).to.equal('log');
  });

  it('reports no log on qemu files closed cleanly', async () => {
    const path = join(dir, 'clean.vhdx');
    await createVhdx(path, { sizeBytes: 8 * MiB, subformat: 'dynamic' });
    await qemuWrites(path, [{ offset: 0, length: 512, pattern: 1 }]);
    const l = await readVhdxLayout(path);
    expect(l.logGuid).to.equal(ZERO_GUID);
    expect(l.logReplay).to.equal(undefined);
    expect(l.sizeAfterReplay).to.equal(l.fileSize);
  });
});

// A hand-written log entry, laid out as MS-VHDX 2.3.1 describes (independent of the parser).
interface Desc {
  fileOffset: number;
  fill?: number;
  zeroLength?: number;
}
function buildEntry(seq: bigint, tail: number, guid: string, descs: Desc[]): Buffer {
  const dataDescs = descs.filter((d) => d.zeroLength === undefined);
  const descSectors = Math.ceil((64 + 32 * descs.length) / 4096);
  const e = Buffer.alloc((descSectors + dataDescs.length) * 4096);
  e.write('loge', 0, 'latin1');
  e.writeUInt32LE(e.length, 8);
  e.writeUInt32LE(tail, 12);
  e.writeBigUInt64LE(seq, 16);
  e.writeUInt32LE(descs.length, 24);
  guidToBytes(guid).copy(e, 32);
  e.writeBigUInt64LE(BigInt(MiB), 48);
  e.writeBigUInt64LE(BigInt(4 * MiB), 56);
  let data = 0;
  descs.forEach((d, i) => {
    const o = 64 + 32 * i;
    e.writeBigUInt64LE(BigInt(d.fileOffset), o + 16);
    e.writeBigUInt64LE(seq, o + 24);
    if (d.zeroLength !== undefined) {
      e.write('zero', o, 'latin1');
      e.writeBigUInt64LE(BigInt(d.zeroLength), o + 8);
      return;
    }
    e.write('desc', o, 'latin1');
    const sector = Buffer.alloc(4096, d.fill);
    sector.copy(e, o + 8, 0, 8); // leading bytes travel in the descriptor
    sector.copy(e, o + 4, 4092, 4096); // trailing bytes too
    const s = (descSectors + data++) * 4096;
    e.write('data', s, 'latin1');
    e.writeUInt32LE(Number(seq >> 32n), s + 4);
    sector.copy(e, s + 8, 8, 4092);
    e.writeUInt32LE(Number(seq & 0xffffffffn), s + 4092);
  });
  e.writeUInt32LE(crc32c(e), 4);
  return e;
}
function place(log: Buffer, at: number, entry: Buffer): void {
  for (let i = 0; i < entry.length; i++) log[(at + i) % log.length] = entry[i]!;
}

describe('src/replication/vhdx/log (active sequence search)', () => {
  const GUID = '11111111-2222-4333-8444-555555555555';
  const K = 4096;

  it('replays the newest complete sequence from its tail, across the end of the circular log', () => {
    const log = Buffer.alloc(16 * K);
    place(log, 2 * K, buildEntry(3n, 2 * K, GUID, [{ fileOffset: 9 * MiB, fill: 0x33 }])); // older, complete on its own
    place(log, 10 * K, buildEntry(10n, 10 * K, GUID, [{ fileOffset: 2 * MiB, fill: 0x0a }]));
    place(log, 12 * K, buildEntry(11n, 10 * K, GUID, [{ fileOffset: 2 * MiB, fill: 0x0b }, { fileOffset: 3 * MiB, zeroLength: 2 * K * 4 }]));
    place(log, 14 * K, buildEntry(12n, 12 * K, GUID, [{ fileOffset: 2 * MiB + K, fill: 0x0c }, { fileOffset: 2 * MiB + 2 * K, fill: 0x0d }])); // 3 sectors: wraps to 0..4K
    const run = findActiveSequence(log, GUID)!;
    expect(run.map((e) => e.seq)).to.deep.equal([11n, 12n]);
    expect([run[1]!.pos + run[1]!.length]).to.deep.equal([17 * K]); // the head entry runs past the end and wraps
    const writes = run.flatMap((e) => e.writes);
    expect(writes.map((w) => [w.fileOffset, w.length, w.data?.[0], w.data?.[4095]])).to.deep.equal([
      [2 * MiB, K, 0x0b, 0x0b],
      [3 * MiB, 8 * K, undefined, undefined],
      [2 * MiB + K, K, 0x0c, 0x0c],
      [2 * MiB + 2 * K, K, 0x0d, 0x0d],
    ]);
  });

  it('finds nothing when the head entry\'s tail is not part of the run, or the GUID differs', () => {
    const log = Buffer.alloc(16 * K);
    place(log, 0, buildEntry(7n, 12 * K, GUID, [{ fileOffset: 2 * MiB, fill: 1 }]));
    expect(findActiveSequence(log, GUID)).to.equal(undefined);
    place(log, 0, buildEntry(7n, 0, GUID, [{ fileOffset: 2 * MiB, fill: 1 }]));
    expect(findActiveSequence(log, GUID)!.map((e) => e.seq)).to.deep.equal([7n]);
    expect(findActiveSequence(log, '11111111-2222-4333-8444-555555555556')).to.equal(undefined);
  });

  it('rejects an entry whose data sector carries another sequence number', () => {
    const log = Buffer.alloc(8 * K);
    const e = buildEntry(5n, 0, GUID, [{ fileOffset: 2 * MiB, fill: 1 }]);
    e.writeUInt32LE(6, K + 4092);
    e.writeUInt32LE(0, 4);
    e.writeUInt32LE(crc32c(e), 4);
    place(log, 0, e);
    expect(parseLogEntry(log, 0, GUID)).to.equal(undefined);
  });
});

// Issue 7 item 9: a crafted log must not make the search quadratic. The work is counted
// (LogScanStats), so the assertions hold however loaded the machine is.
describe('src/replication/vhdx/log (crafted logs cost linear work)', () => {
  const GUID = '11111111-2222-4333-8444-555555555555';
  const K = 4096;
  const LOG = 16 * MiB;
  const sectors = LOG / K;

  // Every sector an entry header with the right GUID, each claiming the whole log (a bad CRC).
  function everySectorAHeader(): Buffer {
    const log = Buffer.alloc(LOG);
    for (let i = 0; i < sectors; i++) {
      const at = i * K;
      log.write('loge', at, 'latin1');
      log.writeUInt32LE(0x12345678, at + 4);
      log.writeUInt32LE(LOG, at + 8);
      log.writeUInt32LE(0, at + 12);
      log.writeBigUInt64LE(BigInt(i + 1), at + 16);
      log.writeUInt32LE(126, at + 24); // as many descriptors as the header sector holds
      guidToBytes(GUID).copy(log, at + 32);
      for (let d = 0; d < 126; d++) {
        log.write('zero', at + 64 + 32 * d, 'latin1');
        log.writeBigUInt64LE(BigInt(i + 1), at + 64 + 32 * d + 24);
      }
    }
    return log;
  }

  it('examines each sector of a 16 MiB log of headers claiming the whole log a bounded number of times', () => {
    const stats = newLogScanStats();
    const started = Date.now();
    expect(findActiveSequence(everySectorAHeader(), GUID, stats)).to.equal(undefined);
    const ms = Date.now() - started;
    expect(stats.entriesParsed, 'each position parsed once').to.be.at.most(sectors);
    expect(stats.bytesChecksummed, 'CRC work: the prefix table plus one header sector per position').to.be.at.most(2 * LOG);
    expect(stats.descriptorsChecked).to.be.at.most(127 * sectors);
    expect(stats.runSteps).to.be.at.most(2 * sectors);
    expect(ms, 'a generous bound; before the fix this took minutes').to.be.below(20_000);
  });

  it('walks a long chain of valid entries whose head points outside it once, not once per entry', () => {
    // 4095 valid one-sector entries, seq 1..4095, every tail pointing at the last sector (not an entry).
    const log = Buffer.alloc(LOG);
    for (let i = 0; i < sectors - 1; i++) place(log, i * K, buildEntry(BigInt(i + 1), (sectors - 1) * K, GUID, []));
    const stats = newLogScanStats();
    expect(findActiveSequence(log, GUID, stats)).to.equal(undefined);
    expect(stats.entriesParsed).to.be.at.most(sectors);
    expect(stats.runSteps, 'without memoized failures this is sectors^2 / 2').to.be.at.most(3 * sectors);
    // The same chain with a head whose tail is inside it is found, whole.
    place(log, (sectors - 1) * K, buildEntry(BigInt(sectors), 0, GUID, []));
    expect(findActiveSequence(log, GUID)?.length).to.equal(sectors);
  });

  it('parses a crafted 16 MiB log inside a real VHDX in bounded time (no active sequence: nothing to replay)', async () => {
    const { dir, cleanup } = await tempDir('vmmirror-vhdx-log-crafted-');
    try {
      const path = join(dir, 'crafted.vhdx');
      await createVhdx(path, { sizeBytes: 64 * MiB, subformat: 'dynamic', blockSizeBytes: MiB, logSizeBytes: LOG });
      const before = await readVhdxLayout(path);
      await patch(path, before.log.offset, everySectorAHeader());
      for (const at of [64 * 1024, 128 * 1024]) await rewriteChecksummed(path, at, 4096, (b) => guidToBytes(GUID).copy(b, 48));
      const started = Date.now();
      const layout = await readVhdxLayout(path);
      expect(Date.now() - started).to.be.below(20_000);
      expect([layout.logActive, layout.logReplay]).to.deep.equal([true, undefined]);
    } finally {
      await cleanup();
    }
  });
});

