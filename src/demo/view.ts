import type { LabHostName } from '../lab/schema';
import { moduleOn, type AgentEvent, type StatusPair } from './watch';

// The demo's terminal, on stderr only (stdout is the report, or the one --json document). On a
// terminal, a compact table of both hosts and their VMs is redrawn in place under the events as
// they scroll; otherwise (a file, a pipe, CI) plain lines: the table is printed again only when
// what it shows changed (states, epochs, who runs what), never cursor movements.

const HOSTS: LabHostName[] = ['hva', 'hvb'];

function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function bar(fraction: number, width = 20): string {
  const full = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}

export class DemoView {
  private readonly tty: boolean;
  private readonly t0 = Date.now();
  private drawn = 0;
  private lastShape = '';
  private lastTable: string[] = [];

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly modules: () => string[] = () => [],
  ) {
    this.tty = out.isTTY === true && process.env.TERM !== 'dumb';
  }

  private stamp(at = Date.now()): string {
    return `${((at - this.t0) / 1000).toFixed(1).padStart(5)}s`;
  }

  /** Lines above the table: the table is taken away, the lines written, the table drawn again. */
  private write(lines: string[]): void {
    if (this.tty && this.drawn > 0) this.out.write(`\x1b[${this.drawn}F\x1b[J`);
    for (const l of lines) this.out.write(`${l}\n`);
    if (this.tty) {
      for (const l of this.lastTable) this.out.write(`${l}\n`);
      this.drawn = this.lastTable.length;
    }
  }

  step(title: string): void {
    this.write([`${this.stamp()} == ${title}`]);
  }

  note(text: string): void {
    this.write([`${this.stamp()}    ${text}`]);
  }

  event(e: AgentEvent): void {
    const what = e.event === 'module-state' ? `${String(e.fields.from)} -> ${String(e.fields.to)} at epoch ${String(e.fields.epoch)}${e.fields.reason ? ` (${String(e.fields.reason)})` : ''}` : e.msg.replace(/^[^:]+: /, '');
    this.write([`${this.stamp(e.at)}    ${e.host} ${e.module ?? ''}: ${what}`]);
  }

  /** The table from both statuses; plain output prints it only when its shape changed. */
  status(s: StatusPair): void {
    const { rows, progress, shape } = this.table(s);
    const table = [...rows, ...progress];
    this.lastTable = table;
    if (this.tty) return this.write([]);
    if (shape === this.lastShape) return;
    this.lastShape = shape;
    this.write(table);
  }

  /** Erases the live table (before the final report). */
  finish(): void {
    this.lastTable = [];
    this.write([]);
    this.drawn = 0;
  }

  private table(s: StatusPair): { rows: string[]; progress: string[]; shape: string } {
    const head = HOSTS.map((h) => {
      const d = s[h];
      if (d === null) return `${h}: DOWN`;
      const q = d.Quorum;
      const votes = [q.FromPeer ? 'peer' : null, q.FromWitness ? 'witness' : null].filter((v) => v !== null).join('+');
      return `${h}: up, ${q.HoldsLease ? `quorum (${votes})` : 'NO QUORUM'}`;
    });
    const lines = [`   ${head.join('   |   ')}`, `   ${'vm'.padEnd(6)}${'hva'.padEnd(16)}${'hvb'.padEnd(16)}${'epoch'.padEnd(7)}${'gen'.padEnd(6)}lag / at risk`];
    const progress: string[] = [];
    const shape: string[] = [];
    for (const name of this.modules()) {
      const cells = HOSTS.map((h) => {
        const m = moduleOn(s[h], name);
        if (s[h] === null) return 'down';
        if (m === null) return '?';
        return `${m.State ?? '?'}${m.VmActivity === 'running' ? ' running' : m.VmActivity === 'off' || m.VmActivity === null ? '' : ` ${m.VmActivity}`}`;
      });
      // The owner's view carries the figures: epoch, its generation, the lag and the data at risk.
      const owner = HOSTS.map((h) => moduleOn(s[h], name)).find((m) => m !== null && (m.State === 'PRIM' || m.State === 'ALONE')) ?? HOSTS.map((h) => moduleOn(s[h], name)).find((m) => m !== null) ?? null;
      const lag = owner?.ReplicationLagMs === null || owner?.ReplicationLagMs === undefined ? '-' : `${(owner.ReplicationLagMs / 1000).toFixed(1)} s`;
      lines.push(`   ${name.padEnd(6)}${cells[0]!.padEnd(16)}${cells[1]!.padEnd(16)}${String(owner?.Epoch ?? '-').padEnd(7)}${String(owner?.LocalGeneration ?? '-').padEnd(6)}lag ${lag} / ${bytes(owner?.DataAtRiskBytes)}`);
      shape.push(`${name} ${cells.join(' ')} ${String(owner?.Epoch)}`);
      for (const h of HOSTS) {
        const m = moduleOn(s[h], name);
        const r = m?.Resync;
        // Shown while the module waits for it; the agent reports the bytes once the owner answered.
        if (m === null || m.WaitReason !== 'resync' || r === null || r === undefined) continue;
        const secs = ((Date.parse(s[h]!.GeneratedAt) - Date.parse(r.StartedAt)) / 1000).toFixed(1);
        progress.push(r.BytesTotal > 0 ? `   resync ${name} on ${h} ${bar(r.BytesDone / r.BytesTotal)} ${bytes(r.BytesDone)} of ${bytes(r.BytesTotal)}, ${secs} s` : `   resync ${name} on ${h}: comparing and sending what differs, ${secs} s`);
        shape.push(`resync ${name} ${h} ${r.BytesTotal > 0 ? Math.floor((r.BytesDone / r.BytesTotal) * 4) : 'started'}`);
      }
    }
    return { rows: lines, progress, shape: [...head, ...shape].join('\n') };
  }
}
