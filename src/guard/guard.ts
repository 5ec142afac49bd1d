import { mkdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log';
import type { Hypervisor } from '../hypervisor/types';
import { monoNow } from '../util/mono';
import { writeFileDurable } from '../replication/util/durable-file';
import { decide, remember, type GuardMemory } from './guard-rules';
import { guardDir, readGuardLease } from './lease-file';
import { join } from 'node:path';

// The guard process (DESIGN C1: nothing may depend on the dead agent). It polls the lease file
// every `pollMs` and turns off the listed VMs once the lease has run out. It runs its own
// hypervisor session, so a fence never waits behind the agent's long freeze or RCT call.

export interface GuardOptions {
  dataDir: string;
  hypervisor: Hypervisor;
  log: Logger;
  pollMs?: number;
  stopTimeoutMs?: number;
  /** The longest lease the cluster grants (a lease running longer past its writing is from another clock). */
  maxLeaseMs?: number;
  /**
   * Every VM this host's modules name. A lease file that is damaged when the guard knows no lease
   * at all (it started after the damage) may hide running VMs: the guard fences these instead.
   */
  moduleVms?: () => Promise<Array<{ Module: string; VmId: string }>>;
  signal: AbortSignal;
}

export async function runGuard(o: GuardOptions): Promise<void> {
  const pollMs = o.pollMs ?? 100;
  await mkdir(guardDir(o.dataDir), { recursive: true, mode: 0o700 });
  let mem: GuardMemory = { lease: null };
  // VMs already stopped for a given deadline, so a fence is not repeated every poll.
  const fenced = new Map<string, number | null>();
  let lastStatus = 0;
  const maxLeaseMs = o.maxLeaseMs ?? Infinity;
  while (!o.signal.aborted) {
    const read = await readGuardLease(o.dataDir);
    mem = remember(mem, read, monoNow(), maxLeaseMs);
    let d = decide(mem, monoNow());
    if (read === 'damaged' && mem.lease === null && o.moduleVms !== undefined) {
      const vms = await o.moduleVms().catch((err: unknown) => {
        o.log.error({ err }, 'guard: cannot list the module VMs to fence after a damaged lease');
        return [];
      });
      if (vms.length > 0) d = { action: 'fence', vms, reason: 'damaged' };
    }
    if (d.action === 'fence') {
      for (const vm of d.vms) {
        const deadline = mem.lease?.RunnableUntilMono ?? null;
        if (fenced.has(vm.VmId) && fenced.get(vm.VmId) === deadline) continue;
        if (await turnOff(o, vm.VmId, vm.Module, d.reason)) fenced.set(vm.VmId, deadline);
      }
    } else fenced.clear();
    if (monoNow() - lastStatus >= 1000) {
      lastStatus = monoNow();
      // The agent checks that its guard lives by this file's age.
      await writeFileDurable(join(guardDir(o.dataDir), 'guard.json'), `${JSON.stringify({ Pid: process.pid, CheckedAtMono: lastStatus })}\n`).catch((err: unknown) =>
        o.log.warn({ err }, 'guard: cannot write its status file'),
      );
    }
    await sleep(pollMs, undefined, { signal: o.signal }).catch(() => undefined);
  }
}

async function turnOff(o: GuardOptions, vmId: string, module: string, reason: string): Promise<boolean> {
  try {
    const vm = await o.hypervisor.getVm(vmId);
    if (vm === null || vm.state === 'Off' || vm.state === 'Saved') return true;
    await o.hypervisor.stopVm(vmId, 'TurnOff', { timeoutMs: o.stopTimeoutMs ?? 10_000 });
    o.log.warn({ event: 'guard-fence', module, vmId, reason }, 'guard: the agent stopped renewing its lease; VM turned off');
    return true;
  } catch (err) {
    o.log.error({ event: 'guard-fence-failed', module, vmId, err }, 'guard: could not turn the VM off; retrying');
    return false;
  }
}
