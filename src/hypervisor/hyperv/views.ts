// Frozen views (recovery snapshots) and RCT references on Hyper-V: freeze, release, leftovers,
// changed ranges, pruning, and what this process must remember between those calls (views it
// holds, RCT ids it handed out, CreateSnapshot jobs still running after a failed freeze).
import type { ZodType } from 'zod';
import { HypervisorError } from '../../errors';
import type { ChangedRanges, DiskReference, FrozenView, VmId } from '../types';
import { unionRanges } from './convert';
import * as S from './schema';

export const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function checkId(id: VmId): void {
  // Not a GUID cannot name a VM; say so the way an unknown GUID does, without asking PowerShell.
  if (!GUID.test(id)) throw new HypervisorError('VM_NOT_FOUND', `not a VM id (GUID expected): ${JSON.stringify(id)}`);
}

/** Runs one ps/ script (the driver's call: input + TimeoutMs, reply validated by schema). */
export type ScriptCall = <T>(script: string, input: object, schema: ZodType<T>, timeoutMs?: number) => Promise<T>;

export class HypervViews {
  /** RCT ids this driver handed out, per VM: only their reference points are ever pruned. */
  private readonly handedOut = new Map<VmId, Set<string>>();
  /** Views this driver has open, per VM: not leftovers, and no export while one is open. */
  private readonly openViews = new Map<VmId, Set<string>>();
  /** CreateSnapshot jobs of failed freezes still running at the cleanup's deadline: their snapshot is released later. */
  private readonly pendingJobs = new Map<VmId, Set<string>>();

  constructor(
    private readonly call: ScriptCall,
    /** The VM's base disk paths now (for a release by id, when the view's disks are not known). */
    private readonly basePathsOf: (id: VmId) => Promise<string[]>,
  ) {}

  /** The ids of the views this driver holds open on the VM. */
  openViewsOf(id: VmId): string[] {
    return [...(this.openViews.get(id) ?? [])];
  }

  async freeze(id: VmId, options: { timeoutMs: number }): Promise<FrozenView> {
    checkId(id);
    let v: S.PsFrozenView;
    try {
      v = await this.call('New-MirrorFrozenView', { VmId: id }, S.PsFrozenView, options.timeoutMs);
    } catch (err) {
      throw await this.cleanUpFailedFreeze(id, err, options.timeoutMs);
    }
    const open = this.openViews.get(id) ?? new Set<string>();
    open.add(v.ViewId);
    this.openViews.set(id, open);
    let released = false;
    const release = async (o: { commit: boolean }): Promise<DiskReference[]> => {
      if (released) throw new HypervisorError('HYPERVISOR_ERROR', `frozen view ${v.ViewId} of VM ${id} was already released`);
      released = true;
      return this.releaseView(id, v.ViewId, { ...o, timeoutMs: options.timeoutMs, basePaths: v.Disks.map((d) => d.BasePath) });
    };
    return {
      vmId: id,
      viewId: v.ViewId,
      takenAt: new Date(v.TakenAt),
      disks: v.Disks.map((d) => ({ basePath: d.BasePath, readPath: d.ReadPath, sizeBytes: d.SizeBytes })),
      consistency: v.Consistency,
      release,
    };
  }

  /**
   * A freeze that failed after Hyper-V accepted CreateSnapshot (a timeout, a failed job, a check
   * after it) may leave a recovery snapshot that no caller knows of: release it now (waiting for a
   * job still running, within the same timeout), and return the original error with what was done.
   */
  private async cleanUpFailedFreeze(id: VmId, err: unknown, timeoutMs: number): Promise<unknown> {
    if (!(err instanceof HypervisorError)) return err;
    const made = S.PsFreezeFailureDetails.safeParse(err.details.scriptDetails);
    const jobIds = made.success && made.data.JobId ? [made.data.JobId] : [];
    const viewIds = made.success && made.data.ViewId ? [made.data.ViewId] : [];
    // A session killed mid-call (PS_TIMEOUT) cannot say what it made: look for our named views.
    if (jobIds.length === 0 && viewIds.length === 0 && err.code !== 'PS_TIMEOUT' && err.code !== 'PS_SESSION_DIED') return err;
    try {
      const r = await this.removeLeftovers(id, { JobIds: jobIds, ViewIds: viewIds }, timeoutMs);
      err.details.leftoverViewsReleased = r.Released;
      err.details.leftoverJobsPending = r.PendingJobIds;
    } catch (cleanupErr) {
      err.details.leftoverCleanupError = String(cleanupErr);
    }
    return err;
  }

  private async removeLeftovers(id: VmId, extra: { JobIds: string[]; ViewIds: string[] }, timeoutMs: number): Promise<S.PsLeftovers> {
    const keep = [...(this.openViews.get(id) ?? [])];
    const jobIds = [...new Set([...extra.JobIds, ...(this.pendingJobs.get(id) ?? [])])];
    const r = await this.call('Remove-MirrorLeftoverView', { VmId: id, KeepViewIds: keep, ViewIds: extra.ViewIds, JobIds: jobIds }, S.PsLeftovers, timeoutMs);
    // The script answered for every job it was given: only those still running stay pending.
    if (r.PendingJobIds.length > 0) this.pendingJobs.set(id, new Set(r.PendingJobIds));
    else this.pendingJobs.delete(id);
    return r;
  }

  /**
   * Releases (merges, no reference point) vmmirror's recovery snapshots of the VM that no open view
   * of this driver holds: those named `vmmirror-view ...` by New-MirrorFrozenView. Another tool's
   * checkpoints are never touched.
   */
  async releaseLeftoverViews(id: VmId, options: { timeoutMs: number }): Promise<{ released: string[] }> {
    checkId(id);
    const r = await this.removeLeftovers(id, { JobIds: [], ViewIds: [] }, options.timeoutMs);
    return { released: r.Released };
  }

  /**
   * Releases a view by its id: what `FrozenView.release` does, also usable after a restart when the
   * caller persisted `viewId` before reading (a crash mid-cycle leaves the checkpoint in place and
   * blocks the next freeze). Only that checkpoint is touched, never another tool's.
   */
  async releaseView(
    id: VmId,
    viewId: string,
    o: { commit: boolean; timeoutMs: number; basePaths?: string[] },
  ): Promise<DiskReference[]> {
    checkId(id);
    const r = await this.call('Remove-MirrorFrozenView', { VmId: id, ViewId: viewId, Commit: o.commit }, S.PsReferences, o.timeoutMs);
    this.openViews.get(id)?.delete(viewId);
    if (!o.commit) return [];
    const refs = r.References.map((x) => ({ basePath: x.BasePath, rctId: x.RctId }));
    // Ours whether or not their disk could be told: remembered first, so pruning removes them.
    const ids = this.handedOut.get(id) ?? new Set<string>();
    for (const x of refs) ids.add(x.rctId);
    for (const x of r.UnmatchedRctIds) ids.add(x);
    this.handedOut.set(id, ids);
    const basePaths = o.basePaths ?? (await this.basePathsOf(id));
    // Every disk must come back with its id; one missing would silently lose that disk's history.
    const missing = basePaths.filter((p) => !refs.some((x) => x.basePath === p));
    if (missing.length > 0) {
      throw new HypervisorError('RCT_UNAVAILABLE', `no RCT id returned for ${missing.join(', ')}`, {
        details: { references: refs, unmatchedRctIds: r.UnmatchedRctIds },
      });
    }
    return basePaths.map((p) => refs.find((x) => x.basePath === p)!);
  }

  async changedRanges(id: VmId, view: FrozenView, since: DiskReference[], options: { timeoutMs: number }): Promise<ChangedRanges[]> {
    checkId(id);
    const disks = view.disks.map((d) => {
      const ref = since.find((s) => s.basePath === d.basePath);
      if (ref === undefined) throw new HypervisorError('RCT_UNAVAILABLE', `no reference for disk ${d.basePath}`, { details: { basePath: d.basePath } });
      return { BasePath: d.basePath, ReadPath: d.readPath, SizeBytes: d.sizeBytes, RctId: ref.rctId };
    });
    const r = await this.call('Get-MirrorDiskChange', { VmId: id, Disks: disks }, S.PsDiskChanges, options.timeoutMs);
    return view.disks.map((d) => {
      const got = r.Disks.find((x) => x.BasePath === d.basePath);
      if (got === undefined) throw new HypervisorError('RCT_UNAVAILABLE', `no answer for disk ${d.basePath}`);
      const ranges = got.Ranges.map((x) => ({ offset: x.Offset, length: x.Length }));
      const outside = ranges.find((x) => x.offset + x.length > d.sizeBytes);
      if (outside !== undefined) {
        throw new HypervisorError('RCT_UNAVAILABLE', `RCT reported a range beyond the disk: ${JSON.stringify(outside)}`, { details: { basePath: d.basePath } });
      }
      return { basePath: d.basePath, virtualSizeBytes: d.sizeBytes, ranges: unionRanges(ranges) };
    });
  }

  /**
   * Destroys the reference points this driver made for the VM, except those holding a kept id.
   * Reference points of other tools (backup products) are never touched; ours made before a
   * restart of the process are not known and stay (see docs/hyperv-driver.md).
   */
  async pruneReferences(id: VmId, keep: DiskReference[]): Promise<void> {
    checkId(id);
    const keepIds = keep.map((k) => k.rctId);
    const mine = [...(this.handedOut.get(id) ?? [])].filter((x) => !keepIds.includes(x));
    if (mine.length === 0) return;
    await this.call('Remove-MirrorReferencePoint', { VmId: id, KeepRctIds: keepIds, PruneRctIds: mine }, S.PsPruned);
    this.handedOut.set(id, new Set(keepIds.filter((x) => this.handedOut.get(id)?.has(x))));
  }
}
