import { setTimeout as sleep } from 'node:timers/promises';
import type { StatusDocument } from '../../src/agent/control/documents';
import type { LabHostName } from '../../src/lab/schema';

// C2 from outside: both agents' epoch of every module, polled every 200 ms through their control
// API, across restarts of the agents (a restarted agent reads its record: its epoch must not be
// lower than the last one it reported). An agent that does not answer is simply not sampled.

export interface EpochDecrease {
  host: LabHostName;
  module: string;
  from: number;
  to: number;
}

export class EpochWatch {
  private readonly last = new Map<string, number>();
  private readonly down: EpochDecrease[] = [];
  private stopped = true;
  private loop: Promise<void> | null = null;
  /** Highest epoch seen per module over both hosts. */
  readonly highest = new Map<string, number>();

  constructor(
    private readonly status: (h: LabHostName) => Promise<StatusDocument>,
    private readonly modules: string[],
  ) {}

  start(): void {
    if (this.loop !== null) return;
    this.stopped = false;
    this.loop = (async () => {
      while (!this.stopped) {
        await Promise.all((['hva', 'hvb'] as const).map((h) => this.sample(h)));
        await sleep(200);
      }
    })();
  }

  stop(): void {
    this.stopped = true;
  }

  async sample(h: LabHostName): Promise<void> {
    let doc: StatusDocument;
    try {
      doc = await this.status(h);
    } catch {
      return;
    }
    for (const m of doc.Modules) {
      if (!this.modules.includes(m.Name) || typeof m.Epoch !== 'number') continue;
      const key = `${h}:${m.Name}`;
      const prev = this.last.get(key);
      if (prev !== undefined && m.Epoch < prev) this.down.push({ host: h, module: m.Name, from: prev, to: m.Epoch });
      this.last.set(key, m.Epoch);
      this.highest.set(m.Name, Math.max(this.highest.get(m.Name) ?? 0, m.Epoch));
    }
  }

  decreases(): EpochDecrease[] {
    return [...this.down];
  }

  epochOf(h: LabHostName, module: string): number | undefined {
    return this.last.get(`${h}:${module}`);
  }
}
