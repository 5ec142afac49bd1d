import { runOk, run } from '../../src/util/exec';

// Thin wrappers over QEMU's tools: an independent VHDX implementation that judges our replicas.

export interface CreateVhdxOptions {
  sizeBytes: number;
  /** qemu's "subformat": fixed or dynamic. */
  subformat: 'fixed' | 'dynamic';
  /** Payload block size in bytes (qemu: block_size; 1 MiB..256 MiB). */
  blockSizeBytes?: number;
  logSizeBytes?: number;
  /** false: every block of a fixed disk is FULLY_PRESENT, as Hyper-V writes fixed disks (qemu defaults to true). */
  blockStateZero?: boolean;
}

export async function createVhdx(path: string, o: CreateVhdxOptions): Promise<void> {
  const opts = [`subformat=${o.subformat}`];
  if (o.blockSizeBytes !== undefined) opts.push(`block_size=${o.blockSizeBytes}`);
  if (o.logSizeBytes !== undefined) opts.push(`log_size=${o.logSizeBytes}`);
  if (o.blockStateZero !== undefined) opts.push(`block_state_zero=${o.blockStateZero ? 'on' : 'off'}`);
  await runOk('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', opts.join(','), path, String(o.sizeBytes)]);
}

/** Writes `length` bytes of `pattern` at virtual `offset` through QEMU's VHDX driver. */
export async function qemuWrite(path: string, offset: number, length: number, pattern: number): Promise<void> {
  await runOk('qemu-io', ['-f', 'vhdx', '-c', `write -P ${pattern} ${offset} ${length}`, path]);
}

/** Several writes in one qemu-io run (faster than one process per write). */
export async function qemuWrites(path: string, writes: Array<{ offset: number; length: number; pattern: number }>): Promise<void> {
  if (writes.length === 0) return;
  const args = ['-f', 'vhdx'];
  for (const w of writes) args.push('-c', `write -P ${w.pattern} ${w.offset} ${w.length}`);
  args.push(path);
  await runOk('qemu-io', args);
}

/** qemu-img compare: true when both images have the same virtual content. */
export async function qemuCompare(a: string, b: string): Promise<{ same: boolean; output: string }> {
  const r = await run('qemu-img', ['compare', '-f', 'vhdx', '-F', 'vhdx', a, b]);
  if (r.exitCode !== 0 && r.exitCode !== 1) throw new Error(`qemu-img compare failed (${r.exitCode}): ${r.stderr}`);
  return { same: r.exitCode === 0, output: r.stdout + r.stderr };
}

/** qemu-img check: true when QEMU finds the image consistent. */
export async function qemuCheck(path: string): Promise<{ ok: boolean; output: string }> {
  const r = await run('qemu-img', ['check', '-f', 'vhdx', path]);
  return { ok: r.exitCode === 0, output: r.stdout + r.stderr };
}
