import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { VmmirrorError, hasCode } from '../errors';
import type { FrozenView, Hypervisor, VmId } from '../hypervisor/types';
import type { Logger } from '../log';
import { removeIfExists, syncDir, writeFileDurable } from '../replication/util/durable-file';

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
  async releaseLeftovers(vmId: VmId, why: string, timeoutMs = LEFTOVER_TIMEOUT_MS): Promise<string[]> {
    try {
      const { released } = await this.hypervisor.releaseLeftoverViews(vmId, { timeoutMs: Math.min(timeoutMs, LEFTOVER_TIMEOUT_MS) });
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
    if (this.suspect.has(vmId)) await this.releaseLeftovers(vmId, 'an earlier release failed', timeoutMs);
    try {
      return await this.hypervisor.freeze(vmId, { timeoutMs });
    } catch (err) {
      if (!hasCode(err, 'VM_WRONG_STATE')) throw err;
      // "Already has an open view": ours from an earlier cycle (a freeze that timed out after the
      // platform made its checkpoint, say). Release it and try once more; a second refusal is real.
      const released = await this.releaseLeftovers(vmId, 'freeze found an open view', timeoutMs);
      if (released.length === 0) throw err;
      return this.hypervisor.freeze(vmId, { timeoutMs });
    }
  }

  /** Releases `view` without committing (true when it was); a failure marks the VM so its next freeze cleans up first. */
  async abandon(view: FrozenView, module: string): Promise<boolean> {
    try {
      await view.release({ commit: false });
      return true;
    } catch (err) {
      this.suspect.add(view.vmId);
      this.log.error({ module, vmId: view.vmId, viewId: view.viewId, err }, 'releasing the frozen view failed; the next cycle releases it first');
      return false;
    }
  }

  /** Whether the next freeze of `vmId` starts by releasing leftovers (for status and tests). */
  isSuspect(vmId: VmId): boolean {
    return this.suspect.has(vmId);
  }
}

// The frozen view a cycle holds, recorded before anything is read from it: an agent killed between
// freeze and release leaves it open on the platform (on Hyper-V a recovery checkpoint that blocks
// every later freeze), and its id, read at the next start, names what to release. Removed once the
// view is released; a release that failed leaves it, so the next start still knows the view.

const VIEW_FILE = 'view.json';

export const ViewRecord = z
  .object({
    VmId: z.string().min(1).max(200),
    ViewId: z.string().min(1).max(1000),
    FrozenAt: z.string().datetime(),
  })
  .strict();
export type ViewRecord = z.infer<typeof ViewRecord>;

/** Records `view` in `stateDir` durably (atomic write, file and folder fsynced). */
export async function writeViewRecord(stateDir: string, view: FrozenView): Promise<void> {
  const record: ViewRecord = { VmId: view.vmId, ViewId: view.viewId, FrozenAt: view.takenAt.toISOString() };
  await writeFileDurable(join(stateDir, VIEW_FILE), `${JSON.stringify(record)}\n`);
}

/** Forgets the recorded view (it was released). */
export async function removeViewRecord(stateDir: string): Promise<void> {
  if (await removeIfExists(join(stateDir, VIEW_FILE))) await syncDir(stateDir);
}

/**
 * The view a cycle left open (null when none): the agent's start releases it by id before
 * anything else. A damaged record is CLUSTER_STATE_INVALID, never a guess.
 */
export async function readPersistedView(stateDir: string): Promise<ViewRecord | null> {
  const path = join(stateDir, VIEW_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new VmmirrorError('IO_ERROR', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    raw = undefined;
  }
  const r = ViewRecord.safeParse(raw);
  if (!r.success) {
    throw new VmmirrorError('CLUSTER_STATE_INVALID', `${path} is damaged (not a { VmId, ViewId, FrozenAt } record); delete it: the agent's start releases every view vmmirror left on the module's VM anyway`);
  }
  return r.data;
}
