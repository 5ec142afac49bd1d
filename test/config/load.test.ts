import { expect } from 'chai';
import { join } from 'node:path';
import { formatProblem, inspectConfig, loadConfig, type ConfigProblem } from '../../src/config';
import { hasCode } from '../../src/errors';
import { DEFAULT_BLOCK_SIZE } from '../../src/replication';
import { tempDir } from '../helpers/tmp';
import { makeConfig, makeWorldReadable, moduleBody, type ConfigFixture } from './fixture';

describe('src/config/load', () => {
  let cleanup: () => Promise<void>;
  let f: ConfigFixture;
  beforeEach(async () => {
    const t = await tempDir();
    cleanup = t.cleanup;
    f = await makeConfig(t.dir);
  });
  afterEach(() => cleanup());

  async function problems(): Promise<ConfigProblem[]> {
    const r = await inspectConfig(f.dir);
    expect(r.config).to.equal(undefined);
    return r.problems;
  }
  function lines(ps: ConfigProblem[]): string[] {
    return ps.map(formatProblem);
  }

  it('loads a valid config with defaults applied and paths resolved', async () => {
    const c = await loadConfig(f.dir);
    expect(c.self.Name).to.equal('hv1');
    expect(c.peer.Name).to.equal('hv2');
    expect(c.dataDir).to.equal(join(f.dir, 'data'));
    expect(c.agent.MaxConcurrentCycles).to.equal(2);
    expect(c.agent.HeartbeatIntervalMs).to.equal(1000);
    expect(c.modules).to.have.length(1);
    const m = c.modules[0]!;
    expect(m.replication).to.deep.equal({ interval: 30, compression: 'none', blockSize: DEFAULT_BLOCK_SIZE });
    expect(m.policies.failback).to.equal('auto');
    expect(m.disks).to.deep.equal([{ name: 'disk0.vhdx', path: '/vms/web1/disk0.vhdx', replicaPath: join(f.dir, 'data', 'replicas', 'web1', 'disk0.vhdx'), localPath: '/vms/web1/disk0.vhdx' }]);
  });

  it("gives each disk this host's own copy as localPath: Path on the DefaultPrimary, the ReplicaPath on the other host", async () => {
    await f.writeModule('db1.json', { ...moduleBody('db1', 'hv2', 'D:\\VMs\\db1.vhdx'), Disks: [{ Path: 'D:\\VMs\\db1.vhdx', ReplicaPath: 'E:\\copies\\db1.vhdx', MaxBytes: 4096 }] });
    const onHv1 = await loadConfig(f.dir);
    const disksOf = (c: typeof onHv1, name: string) => c.modules.find((m) => m.name === name)!.disks as Array<{ path: string; replicaPath: string; localPath: string; maxBytes?: number }>;
    expect(disksOf(onHv1, 'web1')[0]!.localPath).to.equal('/vms/web1/disk0.vhdx');
    // Not the default primary of db1: its own copy is the (resolved) ReplicaPath.
    expect(disksOf(onHv1, 'db1')[0]).to.deep.include({ path: 'D:\\VMs\\db1.vhdx', maxBytes: 4096 });
    expect(disksOf(onHv1, 'db1')[0]!.localPath).to.equal(disksOf(onHv1, 'db1')[0]!.replicaPath);
    // The same files seen from hv2 (host.json names hv2): each disk's other copy.
    await f.writeRaw('host.json', JSON.stringify({ HostName: 'hv2', KeyPath: 'identity/host.key', CertificatePath: 'identity/host.crt', TokenPath: 'identity/control.token' }));
    const onHv2 = await loadConfig(f.dir);
    expect(disksOf(onHv2, 'web1')[0]!.localPath).to.equal(join(f.dir, 'data', 'replicas', 'web1', 'disk0.vhdx'));
    expect(disksOf(onHv2, 'db1')[0]!.localPath).to.equal('D:\\VMs\\db1.vhdx');
  });

  it("refuses a Path that is, on some host, the same file as another module's ReplicaPath; a disk's own two copies may share a path", async () => {
    // web1 (default primary hv1) keeps its replica on hv2 at /vms/db1/disk0.vhdx, the very file db1 (default primary hv2) runs from there.
    await f.writeModule('web1.json', { ...moduleBody('web1'), Disks: [{ Path: '/vms/web1/disk0.vhdx', ReplicaPath: '/vms/db1/disk0.vhdx' }] });
    await f.writeModule('db1.json', moduleBody('db1', 'hv2'));
    expect(lines(await problems())).to.deep.equal(['modules/web1.json: Disks[0].ReplicaPath is, on host hv2, the same file as the Path of modules/db1.json Disks[0]']);
    // Same path for both copies of one disk (one on each host): fine.
    await f.writeModule('web1.json', { ...moduleBody('web1'), Disks: [{ Path: '/vms/web1/disk0.vhdx', ReplicaPath: '/vms/web1/disk0.vhdx' }] });
    expect((await inspectConfig(f.dir)).problems).to.deep.equal([]);
  });

  it('takes cluster Defaults when a module leaves a setting out', async () => {
    f.cluster.Defaults = { Replication: { Compression: 'brotli', Interval: '*/10 * * * * *' } };
    await f.writeCluster(f.cluster);
    await f.writeModule('web1.json', { ...moduleBody('web1'), Replication: {} });
    const m = (await loadConfig(f.dir)).modules[0]!;
    expect(m.replication.compression).to.equal('brotli');
    expect(m.replication.interval).to.equal('*/10 * * * * *');
  });

  it('names file and field for a bad interval, a typo key and a bad enum, all at once', async () => {
    await f.writeModule('web1.json', { ...moduleBody('web1'), Replication: { Interval: 'every minute', Compresion: 'deflate' }, Policies: { Failback: 'sometimes' } });
    const out = lines(await problems());
    expect(out).to.have.length(3);
    expect(out.some((l) => l.startsWith('modules/web1.json: Replication.Interval must be a cron expression or a number of seconds'))).to.equal(true, out.join('\n'));
    expect(out).to.include('modules/web1.json: Replication.Compresion is not a known field (a typo? field names are PascalCase)');
    expect(out.some((l) => l.startsWith('modules/web1.json: Policies.Failback must be one of') && l.includes('"auto"'))).to.equal(true, out.join('\n'));
  });

  it('reports problems from several files in one pass', async () => {
    f.cluster.Hosts[1].Port = 70000;
    delete f.cluster.DataDirectory;
    await f.writeCluster(f.cluster);
    await f.writeRaw('modules/db1.json', '{ "Name": "db1", ');
    await f.writeModule('app1.json', { ...moduleBody('app1'), VmName: undefined });
    const out = lines(await problems());
    expect(out).to.include('cluster.json: DataDirectory is required');
    expect(out.some((l) => l.startsWith('cluster.json: Hosts[1].Port'))).to.equal(true, out.join('\n'));
    expect(out.some((l) => l.startsWith('modules/db1.json: is not valid JSON'))).to.equal(true, out.join('\n'));
    expect(out).to.include('modules/app1.json: VmName is required');
  });

  it('rejects a cluster without exactly two hosts or with a pasted-twice fingerprint', async () => {
    await f.writeCluster({ ...f.cluster, Hosts: [f.cluster.Hosts[0]] });
    expect(lines(await problems())).to.include('cluster.json: Hosts must list exactly two hosts');
    await f.writeCluster({ ...f.cluster, Hosts: [f.cluster.Hosts[0], { ...f.cluster.Hosts[1], CertificateFingerprint: f.cluster.Hosts[0].CertificateFingerprint.toLowerCase() }] });
    expect(lines(await problems())[0]).to.match(/^cluster\.json: Hosts\[1\]\.CertificateFingerprint is the same as Hosts\[0\]/);
  });

  it('refuses two hosts on one address and port, and a witness pinned to a host certificate', async () => {
    const [h0, h1] = f.cluster.Hosts;
    await f.writeCluster({ ...f.cluster, Hosts: [h0, { ...h1, Address: h0.Address, Port: h0.Port }], Witness: { Kind: 'Agent', Address: '10.0.0.9', CertificateFingerprint: h1.CertificateFingerprint } });
    expect(lines(await problems())).to.deep.equal([
      'cluster.json: Hosts[1].Port is the same address and port as Hosts[0] (127.0.0.2:7420); each host listens on its own',
      "cluster.json: Witness.CertificateFingerprint is a host's fingerprint; the witness has its own certificate",
    ]);
  });

  it('checks that DefaultPrimary and Pin name hosts of the cluster', async () => {
    await f.writeModule('web1.json', { ...moduleBody('web1', 'hv9'), Pin: 'hv7' });
    const out = lines(await problems());
    expect(out).to.include('modules/web1.json: DefaultPrimary names "hv9", which is not a host in cluster.json');
    expect(out).to.include('modules/web1.json: Pin names "hv7", which is not a host in cluster.json');
  });

  it('refuses duplicate module names, a file named unlike its module, and disk paths shared by two modules', async () => {
    await f.writeModule('web2.json', moduleBody('web1', 'hv2', '/VMS/web1/DISK0.vhdx'));
    const out = lines(await problems());
    expect(out).to.include('modules/web2.json: Name is "web1" but the file is web2.json; name the file web1.json');
    expect(out).to.include('modules/web2.json: Name duplicates the module name in modules/web1.json');
    expect(out.filter((l) => l.includes('duplicates a disk path already used by modules/web1.json Disks[0]'))).to.have.length(2);
  });

  it('checks that the local host is in the cluster file', async () => {
    await f.writeRaw('host.json', JSON.stringify({ HostName: 'hv3', KeyPath: 'identity/host.key', CertificatePath: 'identity/host.crt', TokenPath: 'identity/control.token' }));
    expect(lines(await problems())[0]).to.equal('host.json: HostName names "hv3", which is not one of the hosts in cluster.json (hv1, hv2)');
  });

  it('refuses a token or key file that others can read', async () => {
    await makeWorldReadable(join(f.dir, 'identity', 'control.token'));
    const out = lines(await problems());
    expect(out).to.have.length(1);
    expect(out[0]).to.match(/^host\.json: TokenPath names .*control\.token, which others can read \(mode 644\)/);
  });

  it('says which file is missing when the directory holds no config', async () => {
    const t = await tempDir();
    try {
      const r = await inspectConfig(t.dir);
      expect(r.problems.map((p) => p.File)).to.deep.equal(['cluster.json', 'host.json']);
      expect(r.problems[0]!.Message).to.match(/^is missing/);
    } finally {
      await t.cleanup();
    }
  });

  it('throws CONFIG_INVALID with the list in details from loadConfig', async () => {
    await f.writeModule('web1.json', { ...moduleBody('web1'), Weight: -1 });
    const err = await loadConfig(f.dir).then(() => undefined, (e: unknown) => e);
    expect(hasCode(err, 'CONFIG_INVALID')).to.equal(true);
    const details = (err as { details: { Problems: ConfigProblem[] } }).details;
    expect(details.Problems.map((p) => `${p.File} ${p.Path}`)).to.deep.equal(['modules/web1.json Weight']);
  });
});
