import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { StatusDocument, SyncReport } from '../../src/agent/control/documents';
import { statusText } from '../../src/cli/commands/status';
import { hasCode } from '../../src/errors';
import { qemuCheck, qemuCompare, qemuWrites } from '../helpers/qemu';
import { seeded } from '../helpers/seed';
import { vmmirror } from '../cli/vmmirror-process';
import { twoHosts, waitRunning, type TwoHosts } from './two-hosts';

// Two real agents (two processes, two loopback addresses, two data directories) replicating a
// simulated VM's qemu-made VHDX over the mutual-TLS peer link.

const T = { timeoutMs: 20_000 };

async function sha(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

function rawGet(socketPath: string, path: string, auth?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: path.endsWith('/sync') ? 'POST' : 'GET', headers: auth !== undefined ? { authorization: auth } : {} }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('src/agent (two agents, real processes, two network namespaces when possible)', function () {
  this.timeout(120_000);
  let t: TwoHosts;
  before(async () => {
    t = await twoHosts({ compression: 'deflate', reverseModule: true });
    const rnd = seeded('agent e2e initial writes');
    const writes = Array.from({ length: 6 }, (_, i) => ({ offset: rnd.int(0, 7) * 1024 * 1024 + rnd.int(0, 15) * 4096, length: rnd.int(1, 64) * 4096, pattern: 0x10 + i }));
    await qemuWrites(t.diskPath, writes);
    await qemuWrites(t.reverse!.diskPath, writes.map((w) => ({ ...w, offset: w.offset % (3 * 1024 * 1024) })));
    await t.start(t.a);
    await t.start(t.b);
    await t.waitConnected();
    process.stderr.write(`      agents at ${t.a.address}:${t.a.port} and ${t.b.address}:${t.b.port}${t.isolated ? ' (network namespaces)' : ' (loopback)'}\n`);
  });
  after(async () => t.cleanup());

  it('replicates a qemu-written VHDX, then guest writes through change tracking, and the replica equals the source', async () => {
    const first = await vmmirror(['sync', 'web1', '--dir', t.a.dir, '--json']);
    expect(first.exitCode, first.stdout + first.stderr).to.equal(0);
    const r1 = SyncReport.parse(JSON.parse(first.stdout));
    expect(r1).to.deep.include({ FromGeneration: 0, ToGeneration: 1, ChangeDetection: 'Scan', Consistency: 'Crash', Compression: 'deflate' });
    expect(r1.WireBytes, 'deflate shrinks pattern data').to.be.lessThan(r1.StreamBytes);
    expect((await qemuCompare(t.diskPath, t.replicaPath)).same).to.equal(true);
    expect(await sha(t.replicaPath)).to.equal(await sha(t.diskPath));

    // The cluster layer started the VM on its owner (the agent, not the test, runs VMs now).
    await waitRunning(t.sim, t.vmId);
    const rnd = seeded('agent e2e guest writes');
    for (let i = 0; i < 5; i++) await t.sim.guestWrite(t.vmId, { offset: rnd.int(0, 2047) * 4096, length: rnd.int(1, 8) * 4096, pattern: 0x40 + i });
    const r2 = await t.sync(t.a);
    expect(r2).to.deep.include({ FromGeneration: 1, ToGeneration: 2, ChangeDetection: 'ChangedRanges' });
    const s2 = (await t.status(t.a)).Modules.find((m) => m.Name === 'web1')!;
    expect(s2.DataAtRiskBytes, 'bytes the guest wrote between generations 1 and 2').to.be.at.least(4096);
    expect(r2.BytesChanged, 'only changed blocks (plus VHDX structures) travel').to.be.lessThan(r1.BytesChanged);
    expect(r2.ManifestBytes, "P's copy of S's manifest was advanced after the ack, not fetched again").to.equal(0);
    // The base disk holds exactly the frozen generation while no further write happens.
    expect((await qemuCompare(t.diskPath, t.replicaPath)).same).to.equal(true);
    expect(await sha(t.replicaPath)).to.equal(await sha(t.diskPath));
    expect((await qemuCheck(t.replicaPath)).ok).to.equal(true);
  });

  it('replicates the other way at the same time (active-active): db1 from hvb to hva, brotli', async () => {
    const rv = t.reverse!;
    await waitRunning(rv.sim, rv.vmId);
    await rv.sim.guestWrite(rv.vmId, { offset: 4096, length: 65536, pattern: 0x77 });
    const [fromA, fromB] = await Promise.all([t.sync(t.a, 'web1'), t.sync(t.b, 'db1')]);
    expect(fromA.FromGeneration).to.equal(2);
    expect(fromB).to.deep.include({ Module: 'db1', FromGeneration: 0, ToGeneration: 1, Compression: 'brotli' });
    expect(fromB.WireBytes).to.be.lessThan(fromB.StreamBytes);
    await rv.sim.stopVm(rv.vmId, 'TurnOff', T);
    expect((await qemuCompare(rv.diskPath, rv.replicaPath)).same).to.equal(true);
    expect(await sha(rv.replicaPath)).to.equal(await sha(rv.diskPath));
    expect(await sha(t.replicaPath)).to.equal(await sha(t.diskPath));
    const sa = await t.status(t.a);
    expect(sa.Modules.map((m) => [m.Name, m.State, m.LocalGeneration])).to.deep.equal([['db1', 'SECOND', 1], ['web1', 'PRIM', 3]]);
  });

  it('shows both hosts reachable and both generations in a status document that parses with its schema', async () => {
    const r = await vmmirror(['status', '--dir', t.a.dir, '--json']);
    expect(r.exitCode, r.stderr).to.equal(0);
    const sa = StatusDocument.parse(JSON.parse(r.stdout));
    expect(sa.Host).to.equal('hva');
    expect(sa.Hosts.map((h) => [h.Name, h.Reachable])).to.deep.equal([['hva', true], ['hvb', true]]);
    expect(Date.parse(sa.Hosts[1]!.LastHeartbeatAt!)).to.be.greaterThan(Date.now() - 5000);
    const ma = sa.Modules.find((m) => m.Name === 'web1')!;
    expect(ma).to.deep.include({ Name: 'web1', Role: 'Primary', State: 'PRIM', LocalGeneration: 3, PeerGeneration: 3, LastError: null });
    expect(ma.LastCycle?.ToGeneration).to.equal(3);
    expect(ma.ReplicationLagMs).to.be.a('number');
    expect(ma.DataAtRiskBytes, 'the driver told how much the guest wrote before the last freeze: nothing since generation 2').to.equal(0);
    expect(ma.LastCycle?.ChangeDetection).to.equal('ChangedRanges');
    const sb = await t.status(t.b);
    expect(sb.Modules.find((m) => m.Name === 'web1')).to.deep.include({ Role: 'Secondary', State: 'SECOND', LocalGeneration: 3, PeerGeneration: 3 });
    expect(statusText(sb)).to.match(/web1 +SECOND +gen local 3 peer 3/);
  });

  it('refuses control calls without the token or with a wrong one, and runs nothing for them', async () => {
    expect(await rawGet(t.a.controlSocket, '/v1/status')).to.equal(401);
    expect(await rawGet(t.a.controlSocket, '/v1/status', 'Bearer 0000')).to.equal(401);
    expect(await rawGet(t.a.controlSocket, '/v1/modules/web1/sync', 'Basic abc')).to.equal(401);
    const s = await t.status(t.a);
    expect(s.Modules.find((m) => m.Name === 'web1')!.LocalGeneration, 'no cycle ran').to.equal(3);
  });

  it('refuses sync on the secondary and of an unknown module with usage errors', async () => {
    const onB = await vmmirror(['sync', 'web1', '--dir', t.b.dir, '--json']);
    expect(onB.exitCode).to.equal(2);
    expect(JSON.parse(onB.stdout)).to.have.nested.property('Error.Code', 'MODULE_NOT_PRIMARY');
    const unknown = await t.sync(t.a, 'nope').then(() => null, (e: unknown) => e);
    expect(hasCode(unknown, 'MODULE_NOT_FOUND')).to.equal(true);
  });

  it('repairs a replica that was written on the secondary (its VM started by hand): rehash there, scan here', async () => {
    // QEMU changes the replica's DataWriteGuid on its first write, as Hyper-V does.
    await qemuWrites(t.replicaPath, [{ offset: 3 * 1024 * 1024, length: 8192, pattern: 0x99 }]);
    expect(await sha(t.replicaPath)).to.not.equal(await sha(t.diskPath));

    const r = await t.sync(t.a);

    expect(r.ChangeDetection, 'change tracking knows nothing of writes on the replica').to.equal('Scan');
    expect(r.BytesChanged).to.be.greaterThan(0);
    expect(await sha(t.replicaPath)).to.equal(await sha(t.diskPath));
    expect((await qemuCompare(t.diskPath, t.replicaPath)).same).to.equal(true);
  });

  it('stops on SIGTERM with exit 0, after which status says the agent is unreachable', async () => {
    expect(await t.kill(t.b, 'SIGTERM')).to.equal(0);
    const r = await vmmirror(['status', '--dir', t.b.dir, '--json']);
    expect(r.exitCode).to.equal(7);
    expect(JSON.parse(r.stdout)).to.have.nested.property('Error.Code', 'AGENT_UNREACHABLE');
    // The primary notices the peer is gone.
    let s = await t.status(t.a);
    for (let i = 0; i < 50 && s.Hosts[1]!.Reachable; i++) {
      await new Promise((res) => setTimeout(res, 100));
      s = await t.status(t.a);
    }
    expect(s.Hosts[1]!.Reachable).to.equal(false);
    expect(s.Modules.find((m) => m.Name === 'web1')!.State).to.equal('ALONE');
    const failed = await t.sync(t.a).then(() => null, (e: unknown) => e);
    expect(hasCode(failed, 'PEER_UNREACHABLE')).to.equal(true);
    expect((await t.status(t.a)).Modules.find((m) => m.Name === 'web1')!.LastError?.Code).to.equal('PEER_UNREACHABLE');
    expect(await t.kill(t.a, 'SIGINT')).to.equal(0);
  });
});
