import { HypervisorError } from '../../errors';
import type { Hypervisor, VmId } from '../types';
import { markGuestHung } from './guest-hang';
import { sendRequest } from './control';
import type { SimOp, SimWriter } from './schemas';
import { vmPaths, writeJsonAtomic, writeVmRecord } from './store';
import type { Observed } from './vm-info';
import type { VmDisks } from './vm-disks';
import { isVmProcessAlive } from './vm-launch';

// What the simulated driver can do that a real hypervisor cannot: write as the guest, change the
// guest's own writer, make releases fail and hang the guest, so tests can drive every path of the layers above.

/** The simulated driver, plus test powers a real hypervisor does not have. */
export interface SimulatedHypervisor extends Hypervisor {
  readonly stateDir: string;
  /** A write by the guest: `length` bytes of `pattern` at virtual `offset` of disk `diskIndex` (into the overlay while frozen). */
  guestWrite(id: VmId, w: { diskIndex?: number; offset: number; length: number; pattern: number }, options?: { timeoutMs?: number }): Promise<void>;
  /** Changes the guest's autonomous pattern writer (applies at once when the VM runs). */
  setWriter(id: VmId, writer: Partial<SimWriter>): Promise<void>;
  /** Makes the next `release` releases of this VM's views fail (HYPERVISOR_ERROR) before merging; a file, so it reaches another process's driver too. */
  injectFault(id: VmId, faults: { release: number }): Promise<void>;
  /** Hangs the running guest (guest-hang.ts): heartbeat LostCommunication, no shutdown, until its next boot. VM_WRONG_STATE when it does not run. */
  hangGuest(id: VmId): Promise<void>;
}

/** The driver internals the test powers use (one lock per VM, the disk owner, the VM's state). */
export interface DriverInternals {
  stateDir: string;
  locked<T>(id: string, fn: () => Promise<T>): Promise<T>;
  onDisks<T>(id: string, op: SimOp, direct: (d: VmDisks) => Promise<T>, timeoutMs: number): Promise<T>;
  observe(id: string): Observed;
}

export function testPowers(d: DriverInternals): Pick<SimulatedHypervisor, 'guestWrite' | 'setWriter' | 'injectFault' | 'hangGuest'> {
  const { stateDir, locked, onDisks, observe } = d;
  return {
    guestWrite(id, w, options = {}) {
      return locked(id, async () => {
        const diskIndex = w.diskIndex ?? 0;
        const op: SimOp = { kind: 'write', diskIndex, offset: w.offset, length: w.length, pattern: w.pattern };
        await onDisks(id, op, (disks) => disks.write(diskIndex, w.offset, Buffer.alloc(w.length, w.pattern), 'g'), options.timeoutMs ?? 20_000);
      });
    },

    setWriter(id, writer) {
      return locked(id, async () => {
        const o = observe(id);
        const next = { ...o.record.writer, ...writer };
        await writeVmRecord(stateDir, { ...o.record, writer: next });
        if (o.alive && o.runtime !== null) {
          const { pid, bootId } = o.runtime;
          await sendRequest(stateDir, id, bootId, { kind: 'setWriter', writer: next }, { timeoutMs: 20_000, alive: () => isVmProcessAlive(pid, id) });
        }
      });
    },

    async injectFault(id, faults) {
      writeJsonAtomic(vmPaths(stateDir, observe(id).record.id).faults, { release: faults.release });
    },

    async hangGuest(id) {
      const o = observe(id);
      if (!o.alive || o.runtime === null) throw new HypervisorError('VM_WRONG_STATE', `cannot hang the guest of VM ${id}: it is ${o.state}`, { details: { vmId: id, state: o.state } });
      markGuestHung(stateDir, o.record.id, o.runtime.bootId);
    },
  };
}
