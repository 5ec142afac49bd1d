import type { ResolvedModule } from '../../config';
import { hasCode } from '../../errors';
import type { Hypervisor, VmId, VmInfo, VmState } from '../../hypervisor/types';
import type { Logger } from '../../log';
import type { ClusterRuntime } from './runtime';

// Tells the cluster layer what the hypervisor says of each module's VM when it differs from what
// the layer expects: the guard fenced it, or someone outside vmmirror started or stopped it.
// Quiet while the module's own effects run (a start in progress is not "started outside"), and
// while the health watch restarts or moves it (its TurnOff is not a stop by hand). It also hands
// the health watch every VM it reads (the guest heartbeat: health-watch.ts).

export function activityOf(state: VmState | null): 'running' | 'off' | null {
  if (state === null || state === 'Off' || state === 'Saved') return 'off';
  if (state === 'Running' || state === 'Paused') return 'running';
  return null; // starting, stopping, saving...: wait for it to settle
}

export function startVmWatch(o: {
  modules: ResolvedModule[];
  hypervisor: Hypervisor;
  runtime: ClusterRuntime;
  vmIdOf(m: ResolvedModule): Promise<VmId>;
  busy(module: string): boolean;
  intervalMs: number;
  log: Logger;
  /** The guest heartbeat watch (absent: none). */
  health?: { observe(m: ResolvedModule, vm: VmInfo | null): void; busy(module: string): boolean };
}): () => void {
  const healthBusy = (module: string): boolean => o.health?.busy(module) === true;
  let running = false;
  const poll = async (): Promise<void> => {
    if (running) return;
    running = true;
    try {
      for (const m of o.modules) {
        if (o.busy(m.name) || o.runtime.handingOver.has(m.name) || healthBusy(m.name)) continue;
        let state: VmState | null = null;
        try {
          const vm = await o.hypervisor.getVm(await o.vmIdOf(m));
          state = vm?.state ?? null;
          o.health?.observe(m, vm);
        } catch (err) {
          if (!hasCode(err, 'VM_NOT_FOUND')) {
            o.log.debug({ module: m.name, err }, 'cannot read the VM state');
            continue;
          }
        }
        const seen = activityOf(state);
        const expected = o.runtime.snapshot.modules[m.name]?.vm;
        if (seen === null || o.busy(m.name) || healthBusy(m.name) || (expected !== 'running' && expected !== 'off') || seen === expected) continue;
        // Off while we expected it running: the guard fenced it if our lease lapsed, else someone did.
        const cause = seen === 'off' && !o.runtime.holdsQuorum() ? 'guard' : 'outside';
        o.log.warn({ event: 'vm-observed', module: m.name, seen, expected, cause }, `${m.name}: VM is ${seen} (expected ${expected})`);
        o.runtime.dispatch({ type: 'vm-observed', module: m.name, activity: seen, cause });
      }
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void poll(), o.intervalMs);
  return () => clearInterval(timer);
}
