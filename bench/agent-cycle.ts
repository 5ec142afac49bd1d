import { createHostIdentity } from '../src/peer/certs';
import { qemuWrites } from '../test/helpers/qemu';
import { prng } from '../test/helpers/seed';
import { twoHosts } from '../test/agent/two-hosts';
import { plainTls } from './peer-throughput';

// Host-to-host benchmark (issue 4): two real `vmmirror agent` processes on loopback, a simulated VM
// whose VHDX gets 10% of its 64 KiB blocks rewritten, one `vmmirror sync` cycle timed end to end
// (freeze, scan, stream, journal, apply, ack), against a plain TLS socket pushing the same bytes.

export interface AgentCycleResult {
  diskBytes: number;
  changedBytes: number;
  streamBytes: number;
  cycleMs: number;
  cycleBytesPerSec: number;
  plainTlsBytesPerSec: number;
  /** cycle throughput / plain TLS throughput (target >= 0.7). */
  ratio: number;
}

/** Runs one seeded 10%-change cycle between two agents and the plain-TLS ceiling for its bytes. */
export async function benchAgentCycle(o: { diskBytes: number; fraction: number; seed: number }): Promise<AgentCycleResult> {
  const rand = prng(o.seed);
  const t = await twoHosts({ diskBytes: o.diskBytes, netns: false, blockSize: 64 * 1024 });
  try {
    await t.start(t.a);
    await t.start(t.b);
    await t.waitConnected();
    // Fill the disk first so the change rewrites allocated blocks (no growth in the measured cycle).
    const block = 64 * 1024;
    const blocks = Math.floor(o.diskBytes / block);
    await qemuWrites(t.diskPath, Array.from({ length: Math.ceil(o.diskBytes / (4 << 20)) }, (_, i) => ({ offset: i * (4 << 20), length: Math.min(4 << 20, o.diskBytes - i * (4 << 20)), pattern: 1 })));
    await t.sync(t.a);
    const chosen = new Set<number>();
    while (chosen.size < Math.round(blocks * o.fraction)) chosen.add(Math.floor(rand() * blocks));
    const writes = [...chosen].map((b) => ({ offset: b * block, length: block, pattern: 2 + Math.floor(rand() * 250) }));
    for (let i = 0; i < writes.length; i += 500) await qemuWrites(t.diskPath, writes.slice(i, i + 500));
    const report = await t.sync(t.a);
    const cycleBytesPerSec = report.StreamBytes / (report.DurationMs / 1000);
    const a = createHostIdentity('bench-a');
    const b = createHostIdentity('bench-b');
    let plain = 0;
    for (let i = 0; i < 3; i++) plain = Math.max(plain, await plainTls(report.StreamBytes, a, b));
    return {
      diskBytes: o.diskBytes,
      changedBytes: writes.length * block,
      streamBytes: report.StreamBytes,
      cycleMs: report.DurationMs,
      cycleBytesPerSec,
      plainTlsBytesPerSec: plain,
      ratio: cycleBytesPerSec / plain,
    };
  } finally {
    await t.cleanup();
  }
}
