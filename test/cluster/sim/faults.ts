import type { HostName, World } from './world';

// A seeded schedule of faults: links cut, hosts crashed (VMs with them), agents crashed alone
// (VMs run on under the guard), the witness crashed. Faults overlap; each heals by itself.

export type FaultKind = 'cut-ab' | 'cut-aw' | 'cut-bw' | 'crash-host' | 'crash-agent' | 'crash-witness';
const KINDS: FaultKind[] = ['cut-ab', 'cut-aw', 'cut-bw', 'crash-host', 'crash-agent', 'crash-witness'];

export function scheduleFaults(w: World, until: number, counts: Record<FaultKind, number>): void {
  let t = 5000;
  while (t < until) {
    const kind = KINDS[Math.floor(w.rand() * KINDS.length)];
    const host: HostName = w.rand() < 0.5 ? 'a' : 'b';
    const hold = w.between(1000, 15000);
    const start = t;
    counts[kind] += 1;
    w.at(start - w.t, () => inject(w, kind, host, hold));
    t += w.between(2000, 9000);
  }
}

function inject(w: World, kind: FaultKind, host: HostName, hold: number): void {
  const h = w.hosts[host];
  w.log.push(`${w.t} fault ${kind}${kind.startsWith('crash-') && kind !== 'crash-witness' ? ` ${host}` : ''} for ${hold} ms`);
  switch (kind) {
    case 'cut-ab':
    case 'cut-aw':
    case 'cut-bw': {
      const link = kind.slice(4) as 'ab' | 'aw' | 'bw';
      w.links[link] = false;
      w.at(hold, () => (w.links[link] = true));
      return;
    }
    case 'crash-host':
      if (!h.hostUp) return;
      w.crashHost(h);
      w.at(hold, () => w.restartHost(h));
      return;
    case 'crash-agent':
      if (!h.agentUp) return;
      w.crashAgent(h);
      w.at(hold, () => {
        if (h.hostUp && !h.agentUp) w.startAgent(h);
      });
      return;
    case 'crash-witness':
      if (!w.witness.up) return;
      w.crashWitness();
      w.at(hold, () => w.restartWitness());
      return;
  }
}
