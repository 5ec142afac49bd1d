import { setTimeout as sleep } from 'node:timers/promises';
import { VmmirrorError } from '../errors';
import type { LabFile, LabHostName } from '../lab/schema';
import type { DemoView } from './view';
import { LogTail, moduleOn, readStatuses, type AgentEvent, type StatusPair } from './watch';

// The demo waits for real conditions, never for a fixed time: each wait polls both agents' status
// and logs (every 250 ms), shows what changed, and ends when its condition holds, or fails with
// DEMO_STEP_FAILED after its deadline, naming the step and what each host said last.

const POLL_MS = 250;

export class Poller {
  readonly events: AgentEvent[] = [];
  status: StatusPair = { hva: null, hvb: null };
  private readonly tails: LogTail[];
  private readonly configDirs: Record<LabHostName, string>;

  constructor(
    lab: LabFile,
    logFile: (process: string) => string,
    private readonly view: DemoView,
    /** True once the demo was interrupted: a wait then ends at once (CANCELLED). */
    private readonly cancelled: () => boolean = () => false,
  ) {
    this.tails = (['hva', 'hvb'] as const).map((h) => new LogTail(h, logFile(`${h}-agent`)));
    this.configDirs = { hva: lab.Hosts.find((h) => h.Name === 'hva')!.ConfigDirectory, hvb: lab.Hosts.find((h) => h.Name === 'hvb')!.ConfigDirectory };
  }

  async poll(): Promise<void> {
    const fresh = (await Promise.all(this.tails.map((t) => t.read()))).flat().sort((a, b) => a.at - b.at);
    for (const e of fresh) {
      this.events.push(e);
      this.view.event(e);
    }
    this.status = await readStatuses(this.configDirs);
    this.view.status(this.status);
  }

  /** The first event matching, at or after `since` (ms since the epoch). */
  find(since: number, match: (e: AgentEvent) => boolean): AgentEvent | undefined {
    return this.events.find((e) => e.at >= since && match(e));
  }

  /** Polls until `done()` holds; DEMO_STEP_FAILED after `timeoutMs`. */
  async until(step: string, timeoutMs: number, done: () => boolean): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.cancelled()) throw new VmmirrorError('CANCELLED', `vmmirror demo: interrupted while waiting for ${step}`);
      await this.poll();
      if (done()) return;
      if (Date.now() > deadline) {
        throw new VmmirrorError('DEMO_STEP_FAILED', `vmmirror demo: ${step} did not happen within ${Math.round(timeoutMs / 1000)} s; last seen: ${this.summary()}`, { details: { Step: step } });
      }
      await sleep(POLL_MS);
    }
  }

  /** One line per host: each module's state and where its VM runs, as that host says. */
  summary(): string {
    return (['hva', 'hvb'] as const)
      .map((h) => {
        const s = this.status[h];
        if (s === null) return `${h}: no answer`;
        return `${h}: ${s.Modules.map((m) => `${m.Name} ${m.State ?? '?'} epoch ${m.Epoch ?? '-'} runs on [${m.RunningOn.join(',')}]`).join('; ')}`;
      })
      .join(' | ');
  }

  /** Module `name` runs on `host` (as that host says: started, running), in the state `state` there. */
  runsOn(name: string, host: LabHostName, state: 'PRIM' | 'ALONE' | null = null): boolean {
    const m = moduleOn(this.status[host], name);
    return m !== null && m.VmActivity === 'running' && m.RunningOn.length === 1 && m.RunningOn[0] === host && (state === null || m.State === state);
  }

  /** Module `name` runs on `host` as PRIM, the other host holds its replica (SECOND) at the same epoch, on a generation. */
  inSyncOn(name: string, host: LabHostName): boolean {
    const other: LabHostName = host === 'hva' ? 'hvb' : 'hva';
    const p = moduleOn(this.status[host], name);
    const s = moduleOn(this.status[other], name);
    return this.runsOn(name, host, 'PRIM') && s !== null && s.State === 'SECOND' && s.Epoch === p!.Epoch && (s.LocalGeneration ?? 0) >= 1 && !s.RunningOn.includes(other);
  }
}
