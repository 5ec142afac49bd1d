import { expect } from 'chai';
import { DEFAULT_LEASE_TIMINGS } from '../../src/cluster/lease';
import { seeded } from '../helpers/seed';
import { scheduleFaults, type FaultKind } from './sim/faults';
import { World } from './sim/world';

// C1 and C2 on a simulated clock: two hosts and a witness run the real state machine through
// seeded runs of overlapping faults (links cut, hosts and agents crashed, the witness crashed),
// with clocks of different offsets and rates. At no instant may a VM run on both hosts; epochs
// never go back; and once every fault has healed, every module runs on exactly one host.

const SETTINGS = { ...DEFAULT_LEASE_TIMINGS, peerTimeoutMs: 5000, witness: true, failbackStableMs: 30000, retryMs: 2000 };
const MODULES = [
  { name: 'm1', defaultPrimary: 'a' as const },
  { name: 'm2', defaultPrimary: 'b' as const },
  { name: 'm3', defaultPrimary: 'a' as const },
];

describe('cluster (seeded fault simulation of two hosts and a witness)', () => {
  it('never runs a VM on both hosts, never lowers an epoch, and converges after the faults heal', () => {
    const { seed, rand } = seeded('cluster-simulation');
    const runs = 24;
    const counts: Record<FaultKind, number> = { 'cut-ab': 0, 'cut-aw': 0, 'cut-bw': 0, 'crash-host': 0, 'crash-agent': 0, 'crash-witness': 0 };
    let takeovers = 0;
    for (let run = 0; run < runs; run++) {
      const runSeed = Math.floor(rand() * 2 ** 32);
      const w = new World(seededRand(runSeed), SETTINGS, MODULES);
      w.startAgent(w.hosts.a);
      w.startAgent(w.hosts.b);
      const faultsEnd = 240_000;
      scheduleFaults(w, faultsEnd, counts);
      w.runUntil(faultsEnd + 20_000);
      // Heal whatever is still broken, then give the cluster time to settle.
      for (const l of ['ab', 'aw', 'bw'] as const) w.links[l] = true;
      if (!w.witness.up) w.restartWitness();
      for (const h of [w.hosts.a, w.hosts.b]) if (!h.hostUp) w.restartHost(h);
      for (const h of [w.hosts.a, w.hosts.b]) if (!h.agentUp) w.startAgent(h);
      w.runUntil(faultsEnd + 80_000);
      const where = `seed ${seed}, run ${run} (run seed ${runSeed})`;
      expect(w.violations, `${where}\n${w.log.slice(-40).join('\n')}`).to.deep.equal([]);
      for (const m of MODULES) {
        const on = (['a', 'b'] as const).filter((h) => w.phys[h][m.name]);
        const states = (['a', 'b'] as const).map((h) => w.hosts[h].snap?.modules[m.name].state).sort();
        expect(on.length, `${where}: ${m.name} runs on [${on}] after healing (states ${states})\n${w.log.slice(-40).join('\n')}`).to.equal(1);
        expect(states, `${where}: ${m.name} states after healing\n${w.log.slice(-30).join('\n')}`).to.deep.equal(['PRIM', 'SECOND']);
      }
      takeovers += w.log.filter((l) => l.includes('SECOND->ALONE')).length;
    }
    process.stderr.write(`      cluster simulation: seed ${seed}, ${runs} runs, faults ${JSON.stringify(counts)}, ${takeovers} takeovers\n`);
    expect(takeovers, 'the faults must cause takeovers, or the test proves nothing').to.be.greaterThan(runs);
  });
});

function seededRand(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
