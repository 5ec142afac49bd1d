// Replays one run of the cluster simulation by the run seed its failure message names, and prints
// both hosts' view of a module, the witness's claims, which VMs run, and the last events:
//   TS_NODE_TRANSPILE_ONLY=true npx ts-node test/cluster/sim/replay.ts <run seed> [module]
import { DEFAULT_LEASE_TIMINGS } from '../../../src/cluster/lease';
import { scheduleFaults } from './faults';
import { World } from './world';
function seededRand(seed: number): () => number { let a = seed >>> 0; return () => { a = (a + 0x6d2b79f5) >>> 0; let t = a; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; }; }
const SETTINGS = { ...DEFAULT_LEASE_TIMINGS, peerTimeoutMs: 5000, witness: true, failbackStableMs: 30000, retryMs: 2000 };
const w = new World(seededRand(Number(process.argv[2])), SETTINGS, [{ name: 'm1', defaultPrimary: 'a' }, { name: 'm2', defaultPrimary: 'b' }, { name: 'm3', defaultPrimary: 'a' }]);
w.startAgent(w.hosts.a); w.startAgent(w.hosts.b);
const counts: any = { 'cut-ab': 0, 'cut-aw': 0, 'cut-bw': 0, 'crash-host': 0, 'crash-agent': 0, 'crash-witness': 0 };
scheduleFaults(w, 240000, counts); w.runUntil(260000);
for (const l of ['ab', 'aw', 'bw'] as const) w.links[l] = true;
if (!w.witness.up) w.restartWitness();
for (const h of [w.hosts.a, w.hosts.b]) if (!h.hostUp) w.restartHost(h);
for (const h of [w.hosts.a, w.hosts.b]) if (!h.agentUp) w.startAgent(h);
w.runUntil(320000);
const M = process.argv[3] ?? 'm1';
console.log(JSON.stringify(w.hosts.a.snap!.modules[M]), JSON.stringify(w.hosts.b.snap!.modules[M]), JSON.stringify(w.witness.state.claims), w.phys);
const from = Number(process.argv[4] ?? 0), to = Number(process.argv[5] ?? Infinity);
console.log(w.log.filter((l) => (l.includes(M) || l.includes("fault")) && Number(l.split(" ")[0]) >= from && Number(l.split(" ")[0]) <= to).slice(-40).join("\n"));
