import type { LoadedConfig, ResolvedModule } from '../config';
import { hasCode } from '../errors';
import type { Hypervisor, VmId } from '../hypervisor/types';
import type { Logger } from '../log';
import { senderStateDir } from './cycle';
import { readPersistedView, removeViewRecord, type ViewKeeper } from './views';

// An agent killed between freeze and release leaves the view open (on Hyper-V a recovery
// checkpoint that blocks every later freeze). At start, before any decision: the view a cycle
// recorded (by its VM id, even if the VM can no longer be found by name), then whatever vmmirror
// left on each module's VM. A VM not on this host is skipped; a failure is logged and retried at
// the next freeze.

export async function releaseLeftoversAtStart(o: { config: LoadedConfig; hypervisor: Hypervisor; views: ViewKeeper; log: Logger; vmIdOf(m: ResolvedModule): Promise<VmId> }): Promise<void> {
  for (const m of o.config.modules) {
    const dir = senderStateDir(o.config, m.name);
    const recorded = await readPersistedView(dir).catch((err: unknown) => {
      o.log.error({ module: m.name, err }, 'the recorded frozen view cannot be read');
      return null;
    });
    if (recorded !== null) {
      try {
        await o.views.releaseLeftovers(recorded.VmId, `view ${recorded.ViewId} recorded by a cycle that did not finish`);
        await removeViewRecord(dir);
      } catch (err) {
        o.log.warn({ module: m.name, view: recorded, err }, 'releasing the recorded frozen view failed; retried before the next freeze');
      }
    }
    let vmId: VmId;
    try {
      vmId = await o.vmIdOf(m);
    } catch (err) {
      if (!hasCode(err, 'VM_NOT_FOUND')) o.log.warn({ module: m.name, code: (err as { code?: string }).code, err }, 'cannot look for frozen views left open');
      continue;
    }
    await o.views.releaseLeftovers(vmId, 'agent start').catch((err: unknown) => o.log.warn({ module: m.name, vmId, code: (err as { code?: string }).code, err }, 'releasing frozen views left open failed; retried before the next freeze'));
  }
}
