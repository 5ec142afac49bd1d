import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { open, rm, mkdir, writeFile, copyFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { prng } from '../test/helpers/seed';

// Engine benchmark (issue 2): one file, 1% of its 64 KiB blocks rewritten at random, then
// side by side in one run: raw read (cat), vmmirror scan mode, rsync --inplace --no-whole-file,
// and vmmirror change-tracking mode; peak RSS of vmmirror. Ratios are the result, not seconds.
// vmmirror times are the whole command (start-up, scan, journal, apply, fsync) as an admin runs it;
// `produceMs` is the part that finds and streams the changes.

const ROOT = resolve(__dirname, '..');
const CLI = join(ROOT, 'bin', 'vmmirror.js');
const BLOCK = 64 << 10;

export interface EngineBenchResult {
  fileBytes: number;
  changedBlocks: number;
  changedBytes: number;
  seed: number;
  rawReadMs: number;
  /** dd bs=4M of=/dev/null: every byte copied into user memory (cat may splice to /dev/null without copying). */
  ddReadMs: number;
  seedMs: number;
  scan: { ms: number; produceMs: number; bytesSent: number; bytesScanned: number; peakRssBytes: number };
  rsync: { ms: number; bytesSent: number; literalBytes: number };
  changeTracking: { ms: number; produceMs: number; bytesSent: number; bytesScanned: number; peakRssBytes: number };
  ratios: { rsyncOverScan: number; scanOverRawRead: number; scanSentOverRsyncSent: number; ctOverScan: number };
}

interface Timed {
  ms: number;
  stdout: string;
  stderr: string;
  peakRssBytes: number;
}

// Runs a command under GNU time to get its peak RSS (worker threads included: same process).
function timed(cmd: string, args: string[], stdoutToNull = false): Promise<Timed> {
  return new Promise((res, rej) => {
    const started = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-f', 'VMMIRROR_BENCH_RSS_KB=%M', cmd, ...args], { stdio: ['ignore', stdoutToNull ? 'ignore' : 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', rej);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code !== 0) return rej(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr}`));
      const kb = Number(/VMMIRROR_BENCH_RSS_KB=(\d+)/.exec(stderr)?.[1] ?? 0);
      res({ ms, stdout, stderr, peakRssBytes: kb * 1024 });
    });
  });
}

async function fillRandom(path: string, size: number): Promise<void> {
  const fh = await open(path, 'w');
  const chunk = 16 << 20;
  for (let p = 0; p < size; p += chunk) {
    const n = Math.min(chunk, size - p);
    const b = randomBytes(n);
    await fh.write(b, 0, n, p);
  }
  await fh.close();
}

// Rewrites `fraction` of the file's 64 KiB blocks with new random bytes; returns the ranges.
async function changeBlocks(path: string, size: number, fraction: number, rand: () => number): Promise<Array<{ offset: number; length: number }>> {
  const blocks = Math.floor(size / BLOCK);
  const want = Math.max(1, Math.round(blocks * fraction));
  const chosen = new Set<number>();
  while (chosen.size < want) chosen.add(Math.floor(rand() * blocks));
  const fh = await open(path, 'r+');
  const ranges: Array<{ offset: number; length: number }> = [];
  for (const b of [...chosen].sort((x, y) => x - y)) {
    await fh.write(randomBytes(BLOCK), 0, BLOCK, b * BLOCK);
    ranges.push({ offset: b * BLOCK, length: BLOCK });
  }
  await fh.close();
  return ranges;
}

/** Runs the engine benchmark in `workDir` on a file of `sizeBytes`. */
export async function benchEngine(o: { workDir: string; sizeBytes: number; seed: number; log: (s: string) => void }): Promise<EngineBenchResult> {
  const rand = prng(o.seed);
  await rm(o.workDir, { recursive: true, force: true });
  await mkdir(o.workDir, { recursive: true });
  const src = join(o.workDir, 'disk.bin');
  const rsyncTarget = join(o.workDir, 'rsync-target.bin');
  const rep = join(o.workDir, 'replica');
  o.log(`creating ${o.sizeBytes} bytes of random data`);
  await fillRandom(src, o.sizeBytes);
  await copyFile(src, rsyncTarget);
  o.log('seeding the vmmirror replica');
  const seedRun = await timed(process.execPath, [CLI, 'replicate', src, '--to', rep, '--json']);

  const changes1 = await changeBlocks(src, o.sizeBytes, 0.01, rand);
  o.log(`changed ${changes1.length} blocks; raw read (warm cache)`);
  await timed('sh', ['-c', `cat '${src}' > /dev/null`]);
  const raw = await timed('sh', ['-c', `cat '${src}' > /dev/null`]);
  const dd = await timed('dd', [`if=${src}`, 'of=/dev/null', 'bs=4M', 'status=none']);
  o.log('vmmirror scan mode');
  const scan = await timed(process.execPath, [CLI, 'replicate', src, '--to', rep, '--json']);
  const scanJson = JSON.parse(scan.stdout) as { BytesSent: number; BytesScanned: number; BlocksChanged: number; DurationMs: number };
  o.log('rsync --inplace --no-whole-file');
  const rs = await timed('rsync', ['--inplace', '--no-whole-file', '--stats', src, rsyncTarget]);
  const literal = Number(/Literal data: ([\d,]+)/.exec(rs.stdout)?.[1].replace(/,/g, '') ?? NaN);
  const rsyncSent = Number(/Total bytes sent: ([\d,]+)/.exec(rs.stdout)?.[1].replace(/,/g, '') ?? NaN);

  const changes2 = await changeBlocks(src, o.sizeBytes, 0.01, rand);
  const rangesFile = join(o.workDir, 'changed.json');
  await writeFile(rangesFile, JSON.stringify([{ Path: src, Ranges: changes2.map((r) => ({ Offset: r.offset, Length: r.length })) }]));
  o.log('vmmirror change-tracking mode');
  const ct = await timed(process.execPath, [CLI, 'replicate', src, '--to', rep, '--changed-ranges', rangesFile, '--json']);
  const ctJson = JSON.parse(ct.stdout) as { BytesSent: number; BytesScanned: number; DurationMs: number };
  const verify = await timed(process.execPath, [CLI, 'verify', src, '--replica', rep, '--json']);
  if (!(JSON.parse(verify.stdout) as { Equal: boolean }).Equal) throw new Error('benchmark replica does not verify');

  return {
    fileBytes: o.sizeBytes,
    changedBlocks: changes1.length,
    changedBytes: changes1.length * BLOCK,
    seed: o.seed,
    rawReadMs: raw.ms,
    ddReadMs: dd.ms,
    seedMs: seedRun.ms,
    scan: { ms: scan.ms, produceMs: scanJson.DurationMs, bytesSent: scanJson.BytesSent, bytesScanned: scanJson.BytesScanned, peakRssBytes: scan.peakRssBytes },
    rsync: { ms: rs.ms, bytesSent: rsyncSent, literalBytes: literal },
    changeTracking: { ms: ct.ms, produceMs: ctJson.DurationMs, bytesSent: ctJson.BytesSent, bytesScanned: ctJson.BytesScanned, peakRssBytes: ct.peakRssBytes },
    ratios: {
      rsyncOverScan: rs.ms / scan.ms,
      scanOverRawRead: scan.ms / raw.ms,
      scanSentOverRsyncSent: scanJson.BytesSent / rsyncSent,
      ctOverScan: ct.ms / scan.ms,
    },
  };
}
