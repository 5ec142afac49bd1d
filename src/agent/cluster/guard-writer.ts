import type { ClusterSnapshot } from '../../cluster';
import { quorumUntil, runnableUntil } from '../../cluster/lease';
import { foreignClock } from '../../guard/guard-rules';
import { readGuardLease, writeGuardLease, type GuardLease } from '../../guard/lease-file';
import type { Logger } from '../../log';
import { monoNow } from '../../util/mono';

// Hands the guard (a separate process) the lease this host holds and the VMs it runs under it,
// so they are turned off at the same instant the cluster layer would fence them, whether or not
// the agent is still alive (DESIGN C1). One write in flight at a time; the newest content wins.
// Without a witness nothing is listed: no host can take a module over, so nothing needs fencing.

export class GuardLeaseWriter {
  private last = '';
  private writing: Promise<void> = Promise.resolve();
  private pending: GuardLease | null = null;

  constructor(
    private readonly dataDir: string,
    private readonly host: string,
    private readonly vmIds: (module: string) => string | undefined,
    private readonly log: Logger,
  ) {}

  /** The lease content for a snapshot (pure apart from the clock of WrittenAtMono). */
  leaseFor(s: ClusterSnapshot, extra: string[] = []): GuardLease {
    const until = runnableUntil(quorumUntil(s.lease.fromPeerUntil, s.lease.fromWitnessUntil), s.settings);
    const vms: GuardLease['Vms'] = [];
    if (s.settings.witness) {
      for (const m of Object.values(s.modules)) {
        const runsHere = m.vm !== 'off' || extra.includes(m.name);
        const id = this.vmIds(m.name);
        if (runsHere && id !== undefined) vms.push({ Module: m.name, VmId: id });
      }
    }
    return { Version: 1, Host: this.host, AgentPid: process.pid, RunnableUntilMono: until, Vms: vms, WrittenAtMono: monoNow() };
  }

  /** Writes the lease if it changed (the deadline or the list); resolves when it is durable. */
  update(s: ClusterSnapshot, extra: string[] = []): Promise<void> {
    const lease = this.leaseFor(s, extra);
    const key = JSON.stringify({ u: lease.RunnableUntilMono, v: lease.Vms });
    if (key === this.last) return this.writing;
    this.last = key;
    this.pending = lease;
    this.writing = this.writing.then(async () => {
      const l = this.pending;
      this.pending = null;
      if (l === null) return;
      await writeGuardLease(this.dataDir, { ...l, WrittenAtMono: monoNow() }).catch((err: unknown) => {
        this.last = '';
        this.log.error({ event: 'guard-lease-write-failed', err }, 'cannot write the guard lease; the guard fences when the old one runs out');
      });
    });
    return this.writing;
  }
}

/** The lease a restarted agent may keep: what its guard still holds (quorum until, host monotonic). */
export async function leaseKeptByGuard(dataDir: string, fenceLeadMs: number, maxLeaseMs: number): Promise<ClusterSnapshot['lease'] | undefined> {
  const l = await readGuardLease(dataDir);
  if (l === 'missing' || l === 'damaged' || l.RunnableUntilMono === null || l.RunnableUntilMono <= monoNow()) return undefined;
  // A lease of a previous boot (or a forged one) looks valid far into the new clock: never kept.
  if (foreignClock(l, monoNow(), maxLeaseMs)) return undefined;
  return { fromPeerUntil: l.RunnableUntilMono + fenceLeadMs, fromWitnessUntil: null };
}
