import { hasCode } from '../errors';
import type { FrozenView, Hypervisor, VmId } from '../hypervisor/types';
import type { Logger } from '../log';

// Frozen views the agent may have left behind. A release that fails (a checkpoint that would not
// merge, a VM process that did not answer in time) leaves the view open on the platform; the next
// freeze of that VM would then be refused or stack a second checkpoint, and the module would stay
// stuck until someone cleaned up by hand. So a VM whose release failed is remembered, and its next
// freeze first releases whatever vmmirror left open (Hypervisor.releaseLeftoverViews), as does the
// agent's start for every module's VM (an agent killed between freeze and release).

const LEFTOVER_TIMEOUT_MS = 120_000;

export class ViewKeeper {
  /** VMs whose last release failed: they may have a view open that nobody holds. */
  private readonly suspect = new Set<VmId>();

  constructor(
    private readonly hypervisor: Hypervisor,
    private readonly log: Logger,
  ) {}

  /** Releases the views left open on `vmId`; on failure the VM stays suspect (retried before its next freeze). */
  async releaseLeftovers(vmId: VmId, why: string): Promise<string[]> {
    try {
      const { released } = await this.hypervisor.releaseLeftoverViews(vmId, { timeoutMs: LEFTOVER_TIMEOUT_MS });
      this.suspect.delete(vmId);
      if (released.length > 0) this.log.warn({ vmId, released, why }, 'released frozen views left open');
      return released;
    } catch (err) {
      this.suspect.add(vmId);
      throw err;
    }
  }

  /** A fresh frozen view: leftovers go first when a release failed before, or when the platform reports an open view. */
  async freeze(vmId: VmId, timeoutMs: number): Promise<FrozenView> {
    if (this.suspect.has(vmId)) await this.releaseLeftovers(vmId, 'an earlier release failed');
    try {
      return await this.hypervisor.freeze(vmId, { timeoutMs });
    } catch (err) {
      if (!hasCode(err, 'VM_WRONG_STATE')) throw err;
      // "Already has an open view": ours from an earlier cycle (a freeze that timed out after the
      // platform made its checkpoint, say). Release it and try once more; a second refusal is real.
      const released = await this.releaseLeftovers(vmId, 'freeze found an open view');
      if (released.length === 0) throw err;
      return this.hypervisor.freeze(vmId, { timeoutMs });
    }
  }

  /** Releases `view` without committing; a failure marks the VM so its next freeze cleans up first. */
  async abandon(view: FrozenView, module: string): Promise<void> {
    try {
      await view.release({ commit: false });
    } catch (err) {
      this.suspect.add(view.vmId);
      this.log.error({ module, vmId: view.vmId, viewId: view.viewId, err }, 'releasing the frozen view failed; the next cycle releases it first');
    }
  }

  /** Whether the next freeze of `vmId` starts by releasing leftovers (for status and tests). */
  isSuspect(vmId: VmId): boolean {
    return this.suspect.has(vmId);
  }
}
