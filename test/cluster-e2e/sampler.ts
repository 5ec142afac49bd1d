import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { simulatedVmPids } from '../../src/hypervisor/simulated';

// Which host runs which VM, sampled every 100 ms from each host's simulated state itself (a live VM
// process for that VM id), never from what the agents say: the agents are what is under test.
// Times are this process's monotonic clock (performance.now()), the clock the kill helpers stamp.

export interface SampledHost {
  name: string;
  simDir: string;
}

export interface Sample {
  at: number;
  /** VM id -> names of the hosts where a live VM process of it was found. */
  running: Map<string, string[]>;
}

export interface Overlap {
  at: number;
  vmId: string;
  hosts: string[];
}

export class RunSampler {
  readonly timeline: Sample[] = [];
  private stopped = false;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly hosts: SampledHost[],
    readonly periodMs = 100,
  ) {}

  /** Starts sampling (one sample at once, then every periodMs, never two scans at a time). */
  start(): void {
    if (this.loop !== null) return;
    this.stopped = false;
    this.loop = (async () => {
      while (!this.stopped) {
        const began = performance.now();
        await this.sampleOnce();
        await sleep(Math.max(0, this.periodMs - (performance.now() - began)));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    this.loop = null;
  }

  /** Takes one sample now (also what the loop does). */
  async sampleOnce(): Promise<Sample> {
    const running = new Map<string, string[]>();
    for (const h of this.hosts) {
      // One host counts once per VM: a VM process that spawns a child (qemu-io for a new block)
      // shows its own command line in that child until the exec, so a host may list a VM twice.
      for (const vmId of new Set((await simulatedVmPids(h.simDir)).map((p) => p.vmId))) running.set(vmId, [...(running.get(vmId) ?? []), h.name]);
    }
    const s = { at: performance.now(), running };
    this.timeline.push(s);
    return s;
  }

  /** Every sample in which a VM ran on more than one host (C1 says: none, ever). */
  overlaps(): Overlap[] {
    const out: Overlap[] = [];
    for (const s of this.timeline) for (const [vmId, hosts] of s.running) if (hosts.length > 1) out.push({ at: s.at, vmId, hosts });
    return out;
  }

  /** The number of samples with a VM on both hosts. */
  momentsOnBoth(): number {
    return this.overlaps().length;
  }

  /** The first sample at or after `t` in which `vmId` ran on `host`; null if none yet. */
  firstRunningAfter(vmId: string, host: string, t: number): number | null {
    for (const s of this.timeline) if (s.at >= t && (s.running.get(vmId) ?? []).includes(host)) return s.at;
    return null;
  }

  /** Where `vmId` ran in the last sample taken. */
  runningNow(vmId: string): string[] {
    return this.timeline.at(-1)?.running.get(vmId) ?? [];
  }

  /** Each change of where `vmId` runs between t0 and t1 (against the last sample before t0, if any). */
  changes(vmId: string, t0: number, t1 = Infinity): Array<{ at: number; from: string[]; to: string[] }> {
    const out: Array<{ at: number; from: string[]; to: string[] }> = [];
    let prev: string[] | null = null;
    for (const s of this.timeline) {
      if (s.at > t1) break;
      const now = [...(s.running.get(vmId) ?? [])].sort();
      if (s.at >= t0 && prev !== null && now.join(',') !== prev.join(',')) out.push({ at: s.at, from: prev, to: now });
      prev = now;
    }
    return out;
  }

  /** Longest interval between two samples between t0 and t1 (an overlap shorter than it could hide). */
  maxGapMs(t0 = 0, t1 = Infinity): number {
    let gap = 0;
    let prev: number | null = null;
    for (const s of this.timeline) {
      if (s.at < t0 || s.at > t1) continue;
      if (prev !== null) gap = Math.max(gap, s.at - prev);
      prev = s.at;
    }
    return gap;
  }

  /** Resolves at the first sample (taken from now on) that satisfies `done`; rejects after timeoutMs. */
  async waitFor(what: string, done: (s: Sample) => boolean, timeoutMs: number): Promise<Sample> {
    const from = this.timeline.length;
    const deadline = performance.now() + timeoutMs;
    let seen = from;
    for (;;) {
      for (; seen < this.timeline.length; seen++) if (done(this.timeline[seen]!)) return this.timeline[seen]!;
      if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what} (last sample: ${describe(this.timeline.at(-1))})`);
      await sleep(this.periodMs / 2);
    }
  }
}

export function describe(s: Sample | undefined): string {
  if (s === undefined) return 'none';
  return [...s.running].map(([vm, hosts]) => `${vm.slice(0, 8)}@${hosts.join('+')}`).join(' ') || 'nothing runs';
}
