import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { answerRequest, takeRequests } from './control';
import { isGuestHung } from './guest-hang';
import type { SimOp, SimWriter } from './schemas';
import { readHostEpoch, readVmRecord, vmPaths, writeJsonAtomic } from './store';
import { openVmDisks, type VmDisks } from './vm-disks';

// A simulated VM: a detached process (argv: stateDir vmId bootId) that owns the VM's disks while
// it runs. It reports "heartbeat" in runtime.json, writes the verifiable pattern at the
// configured rate, and serves the driver's requests (guest write, freeze, release, shutdown; a
// hung guest, guest-hang.ts, refuses the shutdown).

const POLL_MS = 10;
const MAX_BURST = 20;
const EPOCH_CHECK_MS = 100;

function logLine(stateDir: string, vmId: string, msg: string): void {
  try {
    appendFileSync(join(vmPaths(stateDir, vmId).dir, 'process.log'), `${new Date().toISOString()} pid ${process.pid} ${msg}\n`);
  } catch {
    // Nothing else can be done about a log that cannot be written.
  }
}

async function handle(disks: VmDisks, op: SimOp, state: { writer: SimWriter; stop: boolean; hung: () => boolean }): Promise<unknown> {
  switch (op.kind) {
    case 'write':
      return disks.write(op.diskIndex, op.offset, Buffer.alloc(op.length, op.pattern), 'g');
    case 'freeze':
      return disks.freeze(op.viewId);
    case 'release':
      return disks.release(op.viewId, op.commit);
    case 'setWriter':
      state.writer = op.writer;
      return null;
    case 'shutdown':
      // A hung guest never acts on the shutdown request (Hyper-V's Stop-VM then fails): only a TurnOff ends it.
      if (state.hung()) throw Object.assign(new Error('the guest did not answer the shutdown request (its heartbeat is lost)'), { code: 'HYPERVISOR_ERROR' });
      state.stop = true;
      return null;
  }
}

async function main(): Promise<void> {
  const [stateDir, vmId, bootId, hostEpoch = ''] = process.argv.slice(2);
  if (stateDir === undefined || vmId === undefined || bootId === undefined) throw new Error('usage: vm-process <stateDir> <vmId> <bootId> [hostEpoch]');
  // The host "lost power" since this process was asked for: vanish as if killed.
  const crashed = (): boolean => readHostEpoch(stateDir) !== hostEpoch;
  if (crashed()) process.exit(137);
  const record = readVmRecord(stateDir, vmId);
  if (record === null) throw new Error(`no VM ${vmId} in ${stateDir}`);
  const disks = await openVmDisks(stateDir, record, bootId);
  const state = { writer: record.writer, stop: false, hung: () => isGuestHung(stateDir, vmId, bootId) };
  const onSignal = (): void => {
    state.stop = true;
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  if (crashed()) process.exit(137);
  writeJsonAtomic(vmPaths(stateDir, vmId).runtime, { pid: process.pid, bootId, ready: true, startedAt: new Date().toISOString() });
  logLine(stateDir, vmId, `up, boot ${bootId}`);
  let nextWriteAt = Date.now();
  let epochCheckedAt = Date.now();
  while (!state.stop) {
    if (Date.now() - epochCheckedAt >= EPOCH_CHECK_MS) {
      epochCheckedAt = Date.now();
      if (crashed()) process.exit(137);
    }
    for (const r of takeRequests(stateDir, vmId, bootId)) {
      try {
        const result = await handle(disks, r.op, state);
        answerRequest(stateDir, vmId, r.name, { ok: true, result });
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        answerRequest(stateDir, vmId, r.name, { ok: false, error: { code: typeof code === 'string' ? code : 'HYPERVISOR_ERROR', message: (err as Error).message } });
      }
      if (state.stop) break;
    }
    if (state.stop) break;
    if (state.writer.ratePerSecond === 0) nextWriteAt = Date.now();
    // Catch up on timer slack with a few writes at once, but never with a burst after a long
    // pause (a slow merge): the rate is a ceiling.
    for (let burst = 0; state.writer.ratePerSecond > 0 && Date.now() >= nextWriteAt && burst < MAX_BURST; burst++) {
      await disks.patternWrite(state.writer);
      nextWriteAt += 1000 / state.writer.ratePerSecond;
    }
    if (Date.now() >= nextWriteAt) nextWriteAt = Date.now();
    const wait = state.writer.ratePerSecond > 0 ? Math.min(POLL_MS, Math.max(0, nextWriteAt - Date.now())) : POLL_MS;
    await sleep(wait);
  }
  for (const d of disks.disks) await d.sync();
  await disks.close();
  logLine(stateDir, vmId, 'shut down');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    const [stateDir, vmId] = process.argv.slice(2);
    if (stateDir !== undefined && vmId !== undefined) logLine(stateDir, vmId, `fatal: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
