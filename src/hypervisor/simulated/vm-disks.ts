import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { DiskReference } from '../types';
import { HypervisorError } from '../../errors';
import { appendChange, lastSequence, lastStamp, rctIdOf, readChanges } from './change-log';
import { appendOverlay, repairOverlay, replayOverlay } from './overlay';
import { PATTERN_UNIT, decodePatternUnit, encodePatternWrite, writeChoice } from './pattern';
import type { SimFreeze, SimVmRecord, SimWriter } from './schemas';
import { SimFaults, SimFreeze as SimFreezeSchema } from './schemas';
import { readJson, vmPaths, writeJsonAtomic } from './store';
import { openVirtualDisk, type VirtualDisk } from './virtual-disk';

// A VM's disks as its guest writes them: every write is logged (change tracking) and then lands
// in the disk, or in the overlay while a frozen view is open. Used by the VM process while it
// runs, and by the driver itself while the VM is off: exactly one of them owns the disks.

export interface VmDisks {
  readonly disks: readonly VirtualDisk[];
  /** The open view, if any. */
  frozen(): SimFreeze | null;
  /** A guest write of `data` at virtual `offset`; `kind` p = pattern, g = guest data. */
  write(diskIndex: number, offset: number, data: Buffer, kind: 'p' | 'g'): Promise<number>;
  /** One write of the verifiable pattern, at the place (seed, seq) chooses; returns its sequence number. */
  patternWrite(writer: SimWriter): Promise<number>;
  freeze(viewId: string): Promise<SimFreeze>;
  release(viewId: string, commit: boolean): Promise<DiskReference[]>;
  close(): Promise<void>;
}

/** Overlay file of disk `diskPath` for view `viewId`: next to the disk, like Hyper-V's .avhdx. */
export function overlayPath(diskPath: string, viewId: string): string {
  return `${diskPath}.${viewId}.simoverlay`;
}

async function committedEverywhere(logs: string[], viewId: string): Promise<boolean> {
  for (const l of logs) {
    let found = false;
    for await (const e of readChanges(l)) if (e.t === 'C' && e.v === viewId) found = true;
    if (!found) return false;
  }
  return logs.length > 0;
}

// The highest sequence number of this VM's pattern on its disks: where a replica registered on
// this host continues numbering (its local log is empty). Cost grows with disk size, paid once.
async function maxSeqOnDisks(disks: VirtualDisk[], vmId: string): Promise<number> {
  let max = 0;
  const step = 256 * PATTERN_UNIT;
  for (const d of disks) {
    for (let pos = 0; pos + PATTERN_UNIT <= d.sizeBytes; pos += step) {
      const n = Math.min(step, Math.floor((d.sizeBytes - pos) / PATTERN_UNIT) * PATTERN_UNIT);
      const buf = await d.read(pos, n);
      for (let u = 0; u < n; u += PATTERN_UNIT) {
        const unit = decodePatternUnit(buf.subarray(u, u + PATTERN_UNIT));
        if (unit !== null && unit.vmId === vmId && unit.seq > max) max = unit.seq;
      }
    }
  }
  return max;
}

/**
 * Opens a VM's disks for writing, resuming an open frozen view (and its overlays) if one exists.
 * `bootId` names this writer (the VM process's boot; the driver passes none and gets a fresh one).
 */
export async function openVmDisks(stateDir: string, record: SimVmRecord, bootId: string = randomUUID()): Promise<VmDisks> {
  const paths = vmPaths(stateDir, record.id);
  const disks: VirtualDisk[] = [];
  try {
    for (const d of record.disks) disks.push(await openVirtualDisk(d.path, d.format === 'VHDX' ? 'VHDX' : 'Raw'));
  } catch (err) {
    for (const d of disks) await d.close();
    throw err;
  }
  const logs = record.disks.map((_, i) => paths.changeLog(i));
  // Found on the first write only: opening the disks to freeze or merge needs no numbering.
  // A disk written by someone else since our last stamp (a resync from the peer that ran the VM
  // meanwhile: a failback) may hold higher numbers than our own log: continue above both, so
  // no number is used twice in the VM's history.
  let seq = -1;
  let writtenElsewhere = false;
  async function ensureSeq(): Promise<void> {
    if (seq >= 0) return;
    const logged = await lastSequence(logs);
    seq = logged === null ? await maxSeqOnDisks(disks, record.id) : writtenElsewhere ? Math.max(logged, await maxSeqOnDisks(disks, record.id)) : logged;
  }
  const boot = bootId.replace(/-/g, '').slice(0, 16);
  let bootLogged = false;
  let freeze = readJson(paths.freeze, SimFreezeSchema);
  if (freeze !== null) for (const o of freeze.overlays) await repairOverlay(o);
  // Like RCT noticing an offline edit: a disk written since our last recorded stamp (by a resync,
  // or by anything but this VM) voids every reference taken before.
  for (const [i, d] of disks.entries()) {
    const before = await lastStamp(logs[i]!);
    if (before !== null && before !== (await d.writeStamp())) {
      appendChange(logs[i]!, { t: 'I' });
      writtenElsewhere = true;
    }
  }
  async function recordStamps(): Promise<void> {
    for (const [i, d] of disks.entries()) appendChange(logs[i]!, { t: 'S', g: await d.writeStamp() });
  }

  // A view recorded on disk that this owner did not open (another driver object froze the disks
  // just before this process opened them): adopt it, so it can be merged like any other.
  function adoptRecordedView(): void {
    if (freeze !== null) return;
    freeze = readJson(paths.freeze, SimFreezeSchema);
  }

  // A test's injected failure (SimulatedHypervisor.injectFault): consumed one at a time, before any merge.
  function injectedReleaseFault(viewId: string): void {
    const faults = readJson(paths.faults, SimFaults);
    if (faults === null || faults.release === 0) return;
    writeJsonAtomic(paths.faults, { release: faults.release - 1 });
    throw new HypervisorError('HYPERVISOR_ERROR', `injected fault: release of view ${viewId} of VM ${record.id} failed`, { details: { vmId: record.id, viewId, injected: true } });
  }

  function disk(i: number): VirtualDisk {
    const d = disks[i];
    if (d === undefined) throw new HypervisorError('HYPERVISOR_ERROR', `VM ${record.id} has no disk ${i}`, { details: { vmId: record.id, diskIndex: i } });
    return d;
  }

  async function write(diskIndex: number, offset: number, data: Buffer, kind: 'p' | 'g'): Promise<number> {
    const d = disk(diskIndex);
    if (offset < 0 || offset + data.length > d.sizeBytes) {
      throw new HypervisorError('HYPERVISOR_ERROR', `write ${offset}+${data.length} is outside disk ${diskIndex} (${d.sizeBytes} bytes)`, { details: { offset, length: data.length } });
    }
    await ensureSeq();
    if (!bootLogged) {
      for (const l of logs) appendChange(l, { t: 'B', b: boot, s: seq + 1 });
      bootLogged = true;
    }
    seq += 1;
    // Logged before the bytes land: a crash in between over-reports, never under-reports.
    appendChange(logs[diskIndex]!, { t: 'W', s: seq, o: offset, l: data.length, k: kind });
    if (freeze === null) await d.write(offset, data);
    else await appendOverlay(freeze.overlays[diskIndex]!, offset, data);
    return seq;
  }

  return {
    disks,
    frozen: () => freeze,
    write,
    async patternWrite(writer) {
      const units = disks.map((d) => Math.floor(d.sizeBytes / PATTERN_UNIT));
      await ensureSeq();
      const next = seq + 1;
      const { diskIndex, unit } = writeChoice(writer.seed, next, disks.length, units);
      const n = Math.min(writer.unitsPerWrite, units[diskIndex]! - unit);
      const data = encodePatternWrite({ vmId: record.id, seq: next, diskIndex, offset: unit * PATTERN_UNIT, length: n * PATTERN_UNIT, boot });
      return write(diskIndex, unit * PATTERN_UNIT, data, 'p');
    },
    async freeze(viewId) {
      // Retried after the process died having frozen but before answering: the same view.
      if (freeze !== null && freeze.viewId === viewId) return freeze;
      adoptRecordedView();
      if (freeze !== null) throw new HypervisorError('VM_WRONG_STATE', `VM ${record.id} already has an open frozen view ${freeze.viewId}`, { details: { vmId: record.id, viewId: freeze.viewId } });
      for (const d of disks) {
        await d.sync();
        // Like a checkpoint, the freeze closes the base for the guest: merging into it later is a new write session.
        d.endWriteSession();
      }
      const next: SimFreeze = { viewId, takenAt: new Date().toISOString(), overlays: record.disks.map((d) => overlayPath(d.path, viewId)) };
      await recordStamps();
      for (const l of logs) appendChange(l, { t: 'F', v: viewId });
      writeJsonAtomic(paths.freeze, next);
      freeze = next;
      return next;
    },
    async release(viewId, commit) {
      adoptRecordedView();
      if (freeze !== null && freeze.viewId === viewId) injectedReleaseFault(viewId);
      if (freeze === null || freeze.viewId !== viewId) {
        // Retried after the process died having merged and committed but before answering.
        if (commit && (await committedEverywhere(logs, viewId))) return record.disks.map((d) => ({ basePath: d.path, rctId: rctIdOf(viewId) }));
        throw new HypervisorError('VM_WRONG_STATE', `VM ${record.id} has no open view ${viewId}`, { details: { vmId: record.id, viewId } });
      }
      // Replaying is idempotent, so a crash mid-merge is repaired by merging again.
      for (const [i, o] of freeze.overlays.entries()) await replayOverlay(o, (off, data) => disk(i).write(off, data));
      for (const d of disks) await d.sync();
      await recordStamps();
      if (commit) for (const l of logs) appendChange(l, { t: 'C', v: viewId });
      // Overlays before the record of the view: a crash in between leaves a view whose merge is a no-op, never an orphan overlay.
      for (const o of freeze.overlays) await rm(o, { force: true });
      await rm(paths.freeze, { force: true });
      freeze = null;
      return commit ? record.disks.map((d) => ({ basePath: d.path, rctId: rctIdOf(viewId) })) : [];
    },
    async close() {
      for (const d of disks) await d.sync();
      if (bootLogged) {
        await recordStamps();
        for (const l of logs) appendChange(l, { t: 'E' });
      }
      for (const d of disks) await d.close();
    },
  };
}
