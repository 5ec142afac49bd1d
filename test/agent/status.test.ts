import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StatusDocument, type ModuleStatus } from '../../src/agent/control/documents';
import type { CycleReport } from '../../src/agent/cycle-report';
import { buildStatus, type StatusInputs } from '../../src/agent/status';
import { initialSnapshot, step, type ClusterSnapshot, type ModuleSnapshot } from '../../src/cluster';
import { DEFAULT_LEASE_TIMINGS } from '../../src/cluster/lease';
import type { LoadedConfig, ResolvedModule } from '../../src/config';
import { AgentSettings } from '../../src/config/cluster';
import { run } from '../../src/util/exec';
import { statusText } from '../../src/cli/commands/status';
import { pwshPath } from '../hypervisor/hyperv/pwsh';
import { tempDir } from '../helpers/tmp';

// `vmmirror status` from hand-built cluster snapshots (buildStatus is pure): every state and wait
// reason, a VM both sides say runs, lag and data at risk, resync progress, witness and quorum.
// This host is hva; web1's default primary is hva, db1's is hvb. Monotonic time is 100 000 ms.

const MONO = 100_000;
const NOW = new Date('2026-11-26T01:36:30.662Z');
const SETTINGS = { ...DEFAULT_LEASE_TIMINGS, peerTimeoutMs: 5000, witness: true, failbackStableMs: 30_000, retryMs: 5000 };

function mod(name: string, primary: string): ResolvedModule {
  return {
    name,
    file: `modules/${name}.json`,
    vmName: name.toUpperCase(),
    disks: 'auto',
    defaultPrimary: primary,
    replication: { interval: 30, compression: 'none', blockSize: 65536 },
    policies: { failback: primary === 'hva' ? 'auto' : 'manual', stopMode: 'Shutdown', stopTimeoutSeconds: 1, startTimeoutSeconds: 1 },
    hooks: {},
  };
}

const host = (n: string, a: string) => ({ Name: n, Address: a, Port: 7420, CertificateFingerprint: 'x' });
const config: LoadedConfig = {
  dir: '/cfg',
  clusterName: 'lab',
  self: host('hva', '10.0.0.11'),
  peer: host('hvb', '10.0.0.12'),
  hosts: [host('hva', '10.0.0.11'), host('hvb', '10.0.0.12')],
  dataDir: '/data',
  modulesDir: '/cfg/modules',
  keyPath: '',
  certificatePath: '',
  tokenPath: '',
  // The schema's defaults, so a setting added to the agent section needs no change here.
  agent: AgentSettings.parse({ PeerLossTimeoutMs: 5000 }),
  hypervisor: { Driver: 'simulated', Options: {} },
  modules: [mod('web1', 'hva'), mod('db1', 'hvb')],
};

/** A snapshot of hva with the peer heard `heardAgo` ms ago (null: never) and the given module fields. */
function snapshot(o: { heardAgo?: number | null; web1?: Partial<ModuleSnapshot>; db1?: Partial<ModuleSnapshot>; lease?: ClusterSnapshot['lease'] } = {}): ClusterSnapshot {
  const s = initialSnapshot({ self: 'hva', peerName: 'hvb', settings: SETTINGS, now: MONO - 10_000, modules: config.modules.map((m) => ({ name: m.name, defaultPrimary: m.defaultPrimary, failback: m.policies.failback, fenceMode: 'TurnOff' })), records: {}, vms: {} });
  const heardAgo = o.heardAgo === undefined ? 1000 : o.heardAgo;
  return {
    ...s,
    now: MONO,
    detector: { lastHeardAt: heardAgo === null ? {} : { primary: MONO - heardAgo } },
    lease: o.lease ?? s.lease,
    modules: { web1: { ...s.modules.web1!, ...o.web1 }, db1: { ...s.modules.db1!, ...o.db1 } },
  };
}

function cycleReport(module: string, toGeneration: number, changedRangeBytes: number | null): CycleReport {
  const takenAt = new Date(NOW.getTime() - 533);
  return {
    module, epoch: 3, startedAt: new Date(takenAt.getTime() - 10), finishedAt: new Date(NOW.getTime() - 100), durationMs: 433, fromGeneration: toGeneration - 1, toGeneration,
    detection: 'ChangedRanges', consistency: 'Crash', scanReason: null, bytesScanned: 0, bytesChanged: 40960, blocksChanged: 1, streamBytes: 41000, wireBytes: 41000,
    manifestBytes: 0, compression: 'none', changedRangeBytes, takenAt, files: [],
  };
}

function inputs(over: Partial<StatusInputs> = {}): StatusInputs {
  return {
    config, startedAt: new Date(NOW.getTime() - 60_000), now: NOW, monoNow: MONO, connected: true, cluster: snapshot(),
    peer: { lastHeartbeatAt: new Date(NOW.getTime() - 1000), modules: new Map() }, peerCluster: {}, witness: { kind: 'Agent', reachable: true, lastLeaseAt: new Date(NOW.getTime() - 800) },
    replicas: new Map(), acknowledged: new Map(), lastCycles: new Map(), lastErrors: new Map(), resync: new Map(), discarded: new Set(), cycles: new Map(),
    ...over,
  };
}

/** Builds the document, checks it against its schema (nothing undeclared, nothing missing) and returns one module. */
function status(over: Partial<StatusInputs> = {}): StatusDocument {
  const doc = buildStatus(inputs(over));
  expect(StatusDocument.parse(doc)).to.deep.equal(doc);
  return doc;
}
const moduleOf = (doc: StatusDocument, name: string): ModuleStatus => doc.Modules.find((m) => m.Name === name)!;
const view = (state: 'PRIM' | 'SECOND' | 'ALONE' | 'WAIT' | 'STOP', epoch: number, owner: string | null, vm: 'off' | 'running' | 'starting' | 'stopping', generation = 3, waitReason: string | null = null) => ({ state, epoch, owner, vm, generation, waitReason });

describe('vmmirror status (buildStatus, pure)', () => {
  it('PRIM here, SECOND on the peer: both states and epochs, owner, where it runs, generations, lag and data at risk', () => {
    const doc = status({
      cluster: snapshot({ web1: { state: 'PRIM', epoch: 4, owner: 'hva', vm: 'running', generation: 7 } }),
      peerCluster: { web1: view('SECOND', 4, 'hva', 'off', 7) },
      peer: { lastHeartbeatAt: new Date(NOW.getTime() - 1000), modules: new Map([['web1', { name: 'web1', role: 'secondary', generation: 7, takenAt: new Date(NOW.getTime() - 533).toISOString() }]]) },
      lastCycles: new Map([['web1', cycleReport('web1', 7, 40960)]]),
      cycles: new Map([['web1', { running: true, nextAt: new Date(NOW.getTime() + 29_000) }]]),
    });
    expect(moduleOf(doc, 'web1')).to.deep.include({
      Name: 'web1', VmName: 'WEB1', DefaultPrimary: 'hva', Failback: 'auto', Role: 'Primary', State: 'PRIM', PeerState: 'SECOND', Epoch: 4, PeerEpoch: 4, Owner: 'hva', PeerOwner: 'hva',
      VmActivity: 'running', PeerVmActivity: 'off', RunningOn: ['hva'], LocalGeneration: 7, PeerGeneration: 7, ReplicationLagMs: 533, DataAtRiskBytes: 40960,
      DataAtRiskMeasuredAt: '2026-11-26T01:36:30.129Z', WaitReason: null, WaitExplanation: null, Resync: null, DiscardedLocalWrites: false, CycleRunning: true, NextCycleAt: '2026-11-26T01:36:59.662Z', LastError: null,
    });
    expect(moduleOf(doc, 'web1').LastCycle?.ToGeneration).to.equal(7);
  });

  it('SECOND here: Role Secondary, the replica held here gives the lag, no data-at-risk figure on the receiving side', () => {
    const doc = status({
      cluster: snapshot({ db1: { state: 'SECOND', epoch: 2, owner: 'hvb', generation: 5 } }),
      peerCluster: { db1: view('PRIM', 2, 'hvb', 'running', 5) },
      replicas: new Map([['db1', { generation: 5, takenAt: new Date(NOW.getTime() - 12_000).toISOString() }]]),
    });
    expect(moduleOf(doc, 'db1')).to.deep.include({ Role: 'Secondary', State: 'SECOND', PeerState: 'PRIM', Owner: 'hvb', RunningOn: ['hvb'], LocalGeneration: 5, PeerGeneration: 5, ReplicationLagMs: 12_000, DataAtRiskBytes: null, Failback: 'manual' });
  });

  it('ALONE with the peer lost: lag grows from the last replicated generation, the host reads UNREACHABLE', () => {
    const doc = status({
      connected: false,
      cluster: snapshot({ heardAgo: 9000, web1: { state: 'ALONE', epoch: 5, owner: 'hva', vm: 'running', generation: 7 } }),
      acknowledged: new Map([['web1', { generation: 7, takenAt: new Date(NOW.getTime() - 45_000).toISOString() }]]),
    });
    expect(moduleOf(doc, 'web1')).to.deep.include({ State: 'ALONE', PeerState: null, ReplicationLagMs: 45_000, RunningOn: ['hva'] });
    expect(doc.Hosts.map((h) => [h.Name, h.Self, h.Reachable, h.LinkConnected])).to.deep.equal([['hva', true, true, false], ['hvb', false, false, false]]);
  });

  it('Reachable comes from the failure detector, not from the link; a silent second path is named', () => {
    const cluster = { ...snapshot(), detector: { lastHeardAt: { primary: MONO - 7000, secondary: MONO - 300 } } };
    const doc = status({ connected: false, cluster });
    expect(doc.Hosts[1]).to.deep.include({ Reachable: true, LinkConnected: false, SilentHeartbeatPaths: ['primary'] });
    expect(status({ cluster: snapshot({ heardAgo: null }) }).Hosts[1]).to.deep.include({ Reachable: false, SilentHeartbeatPaths: [] });
  });

  it('a VM both sides say runs is listed on both hosts; starting and stopping count as running, off as not', () => {
    const both = status({ cluster: snapshot({ web1: { state: 'ALONE', epoch: 5, owner: 'hva', vm: 'running' } }), peerCluster: { web1: view('PRIM', 4, 'hvb', 'stopping') } });
    expect(moduleOf(both, 'web1').RunningOn).to.deep.equal(['hva', 'hvb']);
    expect(statusText(both)).to.match(/VM RUNS ON BOTH: hva, hvb/);
    // After a takeover the dead peer's last heartbeat still says running: that is not where it runs.
    const silent = status({ cluster: snapshot({ heardAgo: 60_000, web1: { state: 'ALONE', epoch: 5, owner: 'hva', vm: 'running' } }), peerCluster: { web1: view('PRIM', 4, 'hvb', 'running') } });
    expect(moduleOf(silent, 'web1')).to.deep.include({ RunningOn: ['hva'], PeerVmActivity: 'running' });
    const starting = status({ cluster: snapshot({ web1: { vm: 'starting' } }), peerCluster: { web1: view('WAIT', 4, 'hvb', 'off') } });
    expect(moduleOf(starting, 'web1').RunningOn).to.deep.equal(['hva']);
    expect(moduleOf(status(), 'web1').RunningOn).to.deep.equal([]);
  });

  describe('why a module waits', () => {
    const wait = (o: Partial<ModuleSnapshot>, over: Partial<StatusInputs> = {}): ModuleStatus => moduleOf(status({ cluster: snapshot({ heardAgo: null, web1: { state: 'WAIT', ...o } }), ...over }), 'web1');

    it('cold-start: the owner, a replica holder and a never-run module each say whom they wait for', () => {
      const owner = wait({ waitReason: 'cold-start', epoch: 3, owner: 'hva' });
      expect(owner.WaitReason).to.equal('cold-start');
      expect(owner.WaitExplanation).to.match(/^Waiting to learn from the peer or the witness that this copy is the newest before starting the VM here.*\(hvb is unreachable; the witness answers\)\.$/);
      const replica = wait({ waitReason: 'cold-start', epoch: 3, owner: 'hvb' });
      expect(replica.WaitExplanation).to.match(/^Waiting to learn from the peer or the witness that this copy is the newest; this host holds only the replica, so it waits for hvb/);
      expect(wait({ waitReason: 'cold-start' }).WaitExplanation).to.match(/never run, and this host, its default primary, takes the first epoch/);
      expect(wait({ waitReason: 'cold-start', owner: 'hva' }, { witness: { kind: 'FileShare', reachable: false, lastLeaseAt: null } }).WaitExplanation).to.match(/\(neither hvb nor the witness is reachable now\)\.$/);
      expect(wait({ waitReason: 'cold-start', owner: 'hva' }, { witness: null }).WaitExplanation).to.match(/\(hvb is unreachable and the cluster has no witness\)\.$/);
    });

    it('no-quorum, resync (peer up or down), resync-failed, start-failed and STOP', () => {
      expect(wait({ waitReason: 'no-quorum', owner: 'hva' }).WaitExplanation).to.match(/lost its lease .* fenced the VM/);
      const alive = moduleOf(status({ cluster: snapshot({ web1: { state: 'WAIT', waitReason: 'resync', epoch: 6, owner: 'hvb' } }) }), 'web1');
      expect(alive).to.deep.include({ WaitReason: 'resync', Owner: 'hvb', Role: 'Secondary' });
      expect(alive.WaitExplanation).to.equal('This copy is stale (the VM ran on hvb at epoch 6); it is being resynchronised from hvb, sending only the blocks that differ.');
      expect(wait({ waitReason: 'resync', epoch: 6, owner: 'hvb' }).WaitExplanation).to.match(/its resync starts once hvb is reachable again\.$/);
      expect(wait({ waitReason: 'resync-failed', owner: 'hvb' }).WaitExplanation).to.match(/^Resynchronising this stale copy from hvb failed \(see LastError\)/);
      expect(wait({ waitReason: 'start-failed', owner: 'hva' }).WaitExplanation).to.match(/^Starting the VM here failed/);
      const stopped = moduleOf(status({ cluster: snapshot({ web1: { state: 'STOP', waitReason: null } }) }), 'web1');
      expect(stopped).to.deep.include({ State: 'STOP', WaitReason: null });
      expect(stopped.WaitExplanation).to.match(/^Stopped by an operator/);
    });

    it('the peer wait reason, and a snapshot made by the real machine (a newer epoch on the peer: WAIT resync)', () => {
      const start = snapshot({ heardAgo: null, web1: { epoch: 3, owner: 'hva', generation: 7 } });
      const r = step(start, { type: 'peer-heartbeat', now: MONO, path: 'primary', modules: { web1: { state: 'ALONE', epoch: 5, owner: 'hvb', generation: 9, vm: 'running' } } });
      const m = moduleOf(status({ cluster: r.next, peerCluster: { web1: view('ALONE', 5, 'hvb', 'running', 9) }, discarded: new Set(['web1']) }), 'web1');
      expect(m).to.deep.include({ State: 'WAIT', WaitReason: 'resync', Epoch: 5, Owner: 'hvb', PeerEpoch: 5, LocalGeneration: 7, PeerGeneration: 9, RunningOn: ['hvb'], DiscardedLocalWrites: true, PeerWaitReason: null });
      expect(moduleOf(status({ peerCluster: { db1: view('WAIT', 2, 'hvb', 'off', 5, 'no-quorum') } }), 'db1').PeerWaitReason).to.equal('no-quorum');
    });
  });

  it('resync progress: bytes, a percent that never rounds up to 100 early, and null while the total is unknown', () => {
    const startedAt = new Date(NOW.getTime() - 4000);
    const at = (bytesDone: number, bytesTotal: number) => moduleOf(status({ cluster: snapshot({ web1: { state: 'WAIT', waitReason: 'resync', owner: 'hvb', resyncing: true } }), resync: new Map([['web1', { bytesDone, bytesTotal, startedAt }]]) }), 'web1').Resync;
    expect(at(1 << 20, 8 << 20)).to.deep.equal({ BytesDone: 1 << 20, BytesTotal: 8 << 20, Percent: 12.5, StartedAt: startedAt.toISOString() });
    expect(at(9999, 10000)?.Percent).to.equal(99.9);
    expect(at(10000, 10000)?.Percent).to.equal(100);
    expect(at(0, 0)?.Percent).to.equal(null);
  });

  it('quorum: which votes hold, time left before fencing, the vote granted to the peer', () => {
    const held = status({ cluster: { ...snapshot({ lease: { fromPeerUntil: MONO + 4000, fromWitnessUntil: MONO - 1 } }), grantedToPeerUntil: MONO + 5500 } }).Quorum;
    expect(held).to.deep.equal({ HoldsLease: true, RunnableForMs: 4000 - SETTINGS.fenceLeadMs, FromPeer: true, FromWitness: false, GrantedToPeerForMs: 5500 });
    const witnessOnly = status({ cluster: snapshot({ lease: { fromPeerUntil: null, fromWitnessUntil: MONO + 1000 } }) }).Quorum;
    expect(witnessOnly).to.deep.include({ HoldsLease: true, RunnableForMs: 0, FromPeer: false, FromWitness: true });
    const none = status({ cluster: { ...snapshot({ lease: { fromPeerUntil: null, fromWitnessUntil: null } }), grantedToPeerUntil: null } }).Quorum;
    expect(none).to.deep.equal({ HoldsLease: false, RunnableForMs: null, FromPeer: false, FromWitness: false, GrantedToPeerForMs: null });
  });

  it('witness present (kind, reachable, last lease) or absent (null)', () => {
    expect(status().Witness).to.deep.equal({ Kind: 'Agent', Reachable: true, LastLeaseAt: '2026-11-26T01:36:29.862Z' });
    expect(status({ witness: { kind: 'FileShare', reachable: false, lastLeaseAt: null } }).Witness).to.deep.equal({ Kind: 'FileShare', Reachable: false, LastLeaseAt: null });
    expect(status({ witness: null }).Witness).to.equal(null);
  });

  it('LastError is the newest of the agent errors and the replica-open failures; a module the snapshot lacks shows nulls', () => {
    const old = { code: 'REPLICA_INVALID', message: 'damaged', at: new Date(NOW.getTime() - 9000) };
    const recent = { code: 'PEER_UNREACHABLE', message: 'gone', at: new Date(NOW.getTime() - 1000) };
    expect(moduleOf(status({ lastErrors: new Map([['web1', recent]]), replicaFailures: new Map([['web1', old]]) }), 'web1').LastError?.Code).to.equal('PEER_UNREACHABLE');
    expect(moduleOf(status({ replicaFailures: new Map([['db1', old]]) }), 'db1').LastError).to.deep.equal({ Code: 'REPLICA_INVALID', Message: 'damaged', At: old.at.toISOString() });
    const { db1: _gone, ...onlyWeb1 } = snapshot().modules;
    const lacking = moduleOf(status({ cluster: { ...snapshot(), modules: onlyWeb1 } }), 'db1');
    expect(lacking).to.deep.include({ State: null, Epoch: null, Owner: null, VmActivity: null, RunningOn: [], WaitExplanation: null, Role: 'Secondary' });
  });

  it('round-trips through PowerShell: ConvertFrom-Json gives arrays and objects, ConvertTo-Json gives back the same document', async () => {
    const doc = status({
      cluster: snapshot({ web1: { state: 'ALONE', epoch: 5, owner: 'hva', vm: 'running' }, db1: { state: 'WAIT', waitReason: 'resync', owner: 'hvb' } }),
      peerCluster: { web1: view('PRIM', 4, 'hvb', 'running') },
      lastCycles: new Map([['web1', { ...cycleReport('web1', 3, null), files: [{ name: 'web1.vhdx', size: 1 << 20, blocksChanged: 1, bytesChanged: 4096, manifestDigest: 'ab' }] }]]),
      resync: new Map([['db1', { bytesDone: 5, bytesTotal: 40, startedAt: NOW }]]),
    });
    const { dir, cleanup } = await tempDir('status-ps-');
    try {
      await writeFile(join(dir, 'status.json'), JSON.stringify(doc));
      // Fixed script text; the document reaches PowerShell as a file, never as source.
      await writeFile(join(dir, 'read.ps1'), [
        "param([string]$Path)", "$ErrorActionPreference = 'Stop'",
        '$s = Get-Content -Raw -LiteralPath $Path | ConvertFrom-Json',
        '$web = $s.Modules | Where-Object { $_.Name -eq "web1" }',
        '$db = $s.Modules | Where-Object { $_.State -eq "WAIT" }',
        '$facts = [pscustomobject]@{ Both = $web.RunningOn.Count; RunningOnIsArray = ($db.RunningOn -is [array]); DbRunningOn = $db.RunningOn.Count; Percent = $db.Resync.Percent; HoldsLease = $s.Quorum.HoldsLease; Files = $web.LastCycle.Files.Count }',
        '[pscustomobject]@{ Facts = $facts; Doc = $s } | ConvertTo-Json -Depth 12 -Compress',
      ].join('\n'));
      const r = await run(pwshPath(), ['-NoProfile', '-NonInteractive', '-File', join(dir, 'read.ps1'), '-Path', join(dir, 'status.json')], { timeoutMs: 60_000 });
      expect(r.exitCode, r.stderr).to.equal(0);
      const out = JSON.parse(r.stdout) as { Facts: Record<string, unknown>; Doc: unknown };
      expect(out.Facts).to.deep.equal({ Both: 2, RunningOnIsArray: true, DbRunningOn: 0, Percent: 12.5, HoldsLease: doc.Quorum.HoldsLease, Files: 1 });
      // PowerShell turns ISO strings into DateTime and writes them back without trailing zeros: same instants.
      const instants = (v: unknown): unknown => JSON.parse(JSON.stringify(v), (_k, x: unknown) => (typeof x === 'string' && /^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(x) ? new Date(x).toISOString() : x));
      expect(instants(StatusDocument.parse(out.Doc))).to.deep.equal(instants(doc));
    } finally {
      await cleanup();
    }
  });

  it('the text rendering names states on both hosts, why it waits, resync progress and discarded writes', () => {
    const text = statusText(status({
      cluster: snapshot({ web1: { state: 'WAIT', waitReason: 'resync', epoch: 6, owner: 'hvb' } }),
      peerCluster: { web1: view('ALONE', 6, 'hvb', 'running') },
      resync: new Map([['web1', { bytesDone: 1, bytesTotal: 4, startedAt: NOW }]]),
      discarded: new Set(['web1']),
    }));
    expect(text).to.match(/web1 +WAIT +gen local 0 peer 3/);
    expect(text).to.match(/epoch 6 owner hvb, peer ALONE at epoch 6, VM runs on hvb/);
    expect(text).to.match(/resync: This copy is stale/);
    expect(text).to.match(/resync 25\.0% \(1 of 4 B\)/);
    expect(text).to.match(/writes made here after the last replicated generation were discarded/);
    expect(text).to.match(/quorum: NO LEASE; vote granted to the peer for 0\.0 s/);
    expect(text).to.match(/witness: Agent, reachable/);
  });
});
