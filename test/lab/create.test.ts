import { expect } from 'chai';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModuleFile } from '../../src/config/module';
import { SimVmRecord } from '../../src/hypervisor/simulated/schemas';
import { WitnessConfigFile } from '../../src/witness/schema';
import { run } from '../../src/util/exec';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';
import { vmmirror } from '../cli/vmmirror-process';
import { createTestLab, readJsonFile, type LabUnderTest } from './lab-cli';

// `vmmirror lab create`: the files it writes are what the agent, the guard and the witness load
// (checked by their own validators), every VM sits on both hosts, and a foreign folder is refused.

describe('vmmirror lab create', function () {
  this.timeout(120_000);
  const rng = seeded('lab create');
  let t: LabUnderTest;
  before(async () => {
    process.stderr.write(`      lab seed ${rng.seed}\n`);
    t = await createTestLab(rng.seed, ['--vms', '3', '--interval', '3', '--heartbeat-ms', '500', '--peer-timeout-ms', '2500']);
  });
  after(() => t.cleanup());

  it('prints one JSON document naming each host, the witness and the modules, and writes the same as lab.json', async () => {
    expect(t.lab.Directory).to.equal(t.dir);
    expect(t.lab.Seed).to.equal(rng.seed);
    expect(t.lab.Hosts.map((h) => h.Name)).to.deep.equal(['hva', 'hvb']);
    expect(await readJsonFile(join(t.dir, 'lab.json'))).to.deep.equal(t.lab);
    // Loopback, a port of its own each (the OS picked them), control sockets inside the lab.
    const endpoints = [...t.lab.Hosts.map((h) => `${h.Address}:${h.Port}`), `${t.lab.Witness.Address}:${t.lab.Witness.Port}`];
    expect(new Set(endpoints).size).to.equal(3);
    for (const h of t.lab.Hosts) {
      expect(h.Address).to.match(/^127\.0\.0\.\d+$/);
      expect(h.ControlSocket).to.equal(join(t.dir, h.Name, 'control.sock'));
    }
    expect(t.lab.Modules.map((m) => [m.Name, m.DefaultPrimary])).to.deep.equal([['vm1', 'hva'], ['vm2', 'hvb'], ['vm3', 'hva']]);
    expect(new Set(t.lab.Modules.map((m) => m.MacAddress)).size).to.equal(3);
  });

  it('writes config folders that `vmmirror config validate` accepts, with the cluster settings asked for', async () => {
    for (const h of t.lab.Hosts) {
      const r = await vmmirror(['config', 'validate', '--dir', h.ConfigDirectory, '--json']);
      expect(r.exitCode, r.stdout).to.equal(0);
      expect(JSON.parse(r.stdout)).to.include({ Valid: true, HostName: h.Name, ModuleCount: 3 });
      const cluster = (await readJsonFile(join(h.ConfigDirectory, 'cluster.json'))) as Record<string, any>;
      expect(cluster.Agent).to.include({ ControlSocket: h.ControlSocket, HeartbeatIntervalMs: 500, PeerLossTimeoutMs: 2500 });
      expect(cluster.Witness).to.deep.equal({ Kind: 'Agent', Address: t.lab.Witness.Address, Port: t.lab.Witness.Port, CertificateFingerprint: t.lab.Witness.CertificateFingerprint });
      expect(cluster.Hypervisor).to.deep.equal({ Driver: 'simulated', Options: { StateDirectory: h.SimDirectory } });
      expect(cluster.Hosts.map((x: { CertificateFingerprint: string }) => x.CertificateFingerprint)).to.deep.equal(t.lab.Hosts.map((x) => x.CertificateFingerprint));
    }
    const witness = WitnessConfigFile.parse(await readJsonFile(join(t.lab.Witness.Directory, 'witness.json')));
    expect(witness.Hosts.map((h) => [h.Name, h.CertificateFingerprint])).to.deep.equal(t.lab.Hosts.map((h) => [h.Name, h.CertificateFingerprint]));
  });

  it('registers every VM on both hosts (one id, one static MAC), each on its own byte-identical fresh copy', async () => {
    for (const m of t.lab.Modules) {
      const files = await Promise.all(t.lab.Hosts.map((h) => readFile(join(h.ConfigDirectory, 'modules', `${m.Name}.json`), 'utf8')));
      expect(files[0], 'the module file is the same on both hosts').to.equal(files[1]);
      const mod = ModuleFile.parse(JSON.parse(files[0]!));
      const copy = (h: string) => m.Copies.find((c) => c.Host === h)!.Path;
      const other = m.DefaultPrimary === 'hva' ? 'hvb' : 'hva';
      expect(mod.Disks).to.deep.equal([{ Path: copy(m.DefaultPrimary), ReplicaPath: copy(other), MaxBytes: m.DiskBytes + 16 * 1024 * 1024 }]);
      expect(mod).to.include({ VmId: m.VmId, DefaultPrimary: m.DefaultPrimary });
      expect(mod.Replication.Interval).to.equal(3);
      expect(mod.Policies.Failback).to.equal('auto');
      for (const h of t.lab.Hosts) {
        const rec = SimVmRecord.parse(await readJsonFile(join(h.SimDirectory, 'vms', m.VmId, 'vm.json')));
        expect(rec.state).to.equal('Off');
        expect(rec.disks.map((d) => d.path)).to.deep.equal([copy(h.Name)]);
        expect(rec.networkAdapters.map((a) => [a.macAddress, a.dynamicMac])).to.deep.equal([[m.MacAddress, false]]);
        expect(rec.writer).to.deep.equal({ ratePerSecond: m.Writer.RatePerSecond, unitsPerWrite: m.Writer.UnitsPerWrite, seed: m.Writer.Seed });
        const check = await run('qemu-img', ['check', '-f', 'vhdx', copy(h.Name)]);
        expect(check.exitCode, check.stdout + check.stderr).to.equal(0);
      }
      expect(Buffer.compare(await readFile(copy('hva')), await readFile(copy('hvb')))).to.equal(0);
      const cmp = await run('qemu-img', ['info', '--output=json', copy('hva')]);
      expect(JSON.parse(cmp.stdout)['virtual-size']).to.equal(8 * 1024 * 1024);
    }
  });

  it('replays the writers from --seed: the same seed gives every VM the same writer seed and MAC', async () => {
    const again = await createTestLab(rng.seed, ['--vms', '3']);
    try {
      expect(again.lab.Modules.map((m) => [m.Writer.Seed, m.MacAddress])).to.deep.equal(t.lab.Modules.map((m) => [m.Writer.Seed, m.MacAddress]));
    } finally {
      await again.cleanup();
    }
  });

  it('puts hosts and the witness at --addresses with the usual ports, and names each host address in witness.json', async () => {
    const d = await tempDir('vmmirror-lab-');
    try {
      const dir = join(d.dir, 'lab');
      const r = await vmmirror(['lab', 'create', dir, '--json', '--vms', '1', '--disk-mib', '4', '--addresses', '10.231.0.2,10.231.0.3,10.231.0.4']);
      expect(r.exitCode, r.stdout + r.stderr).to.equal(0);
      const lab = JSON.parse(r.stdout);
      expect(lab.Hosts.map((h: { Address: string; Port: number }) => `${h.Address}:${h.Port}`)).to.deep.equal(['10.231.0.2:7420', '10.231.0.3:7420']);
      expect(lab.Witness).to.include({ Address: '10.231.0.4', Port: 7422 });
      const witness = WitnessConfigFile.parse(await readJsonFile(join(dir, 'witness', 'witness.json')));
      expect(witness.Hosts.map((h) => h.Address)).to.deep.equal(['10.231.0.2', '10.231.0.3']);
      for (const h of ['hva', 'hvb']) expect((await vmmirror(['config', 'validate', '--dir', join(dir, h, 'config')])).exitCode).to.equal(0);
    } finally {
      await d.cleanup();
    }
  });

  it('refuses a non-empty folder that is not a lab (LAB_DIR_NOT_EMPTY), an existing lab (IDENTITY_EXISTS) and bad options (USAGE), writing nothing', async () => {
    const d = await tempDir('vmmirror-lab-');
    try {
      const foreign = join(d.dir, 'foreign');
      await mkdir(foreign);
      await writeFile(join(foreign, 'notes.txt'), 'mine');
      const r1 = await vmmirror(['lab', 'create', foreign, '--json']);
      expect(r1.exitCode).to.equal(2);
      expect(JSON.parse(r1.stdout).Error.Code).to.equal('LAB_DIR_NOT_EMPTY');
      const r2 = await vmmirror(['lab', 'create', t.dir, '--json']);
      expect(r2.exitCode).to.equal(3);
      expect(JSON.parse(r2.stdout).Error.Code).to.equal('IDENTITY_EXISTS');
      for (const bad of [['--vms', '0'], ['--vms', 'two'], ['--addresses', '10.0.0.1,10.0.0.2'], ['--heartbeat-ms', '3000', '--peer-timeout-ms', '5000'], ['--disk-mib', '1']]) {
        const r = await vmmirror(['lab', 'create', join(d.dir, 'new'), '--json', ...bad]);
        expect(r.exitCode, bad.join(' ')).to.equal(2);
        expect(JSON.parse(r.stdout).Error.Code, bad.join(' ')).to.equal('USAGE');
      }
      const { readdir } = await import('node:fs/promises');
      expect((await readdir(d.dir)).sort()).to.deep.equal(['foreign']);
      expect(await readdir(foreign)).to.deep.equal(['notes.txt']);
    } finally {
      await d.cleanup();
    }
  });

  it('refuses lab commands on a folder that is not a lab (CONFIG_NOT_FOUND) or whose lab.json is damaged (CONFIG_INVALID)', async () => {
    const d = await tempDir('vmmirror-lab-');
    try {
      for (const cmd of [['start'], ['stop'], ['verify'], ['crash', '<dir>', 'hva']]) {
        const args = cmd[0] === 'crash' ? ['lab', 'crash', d.dir, 'hva'] : ['lab', cmd[0]!, d.dir];
        const r = await vmmirror([...args, '--json']);
        expect(r.exitCode, cmd.join(' ')).to.equal(3);
        expect(JSON.parse(r.stdout).Error.Code).to.equal('CONFIG_NOT_FOUND');
      }
      await writeFile(join(d.dir, 'lab.json'), '{"Version": 1, "Directory": 5}');
      const r = await vmmirror(['lab', 'verify', d.dir, '--json']);
      expect(r.exitCode).to.equal(3);
      expect(JSON.parse(r.stdout).Error.Code).to.equal('CONFIG_INVALID');
      const r3 = await vmmirror(['lab', 'crash', t.dir, 'hvc', '--json']);
      expect(r3.exitCode).to.equal(2);
      expect(JSON.parse(r3.stdout).Error.Message).to.match(/hva or hvb/);
    } finally {
      await d.cleanup();
    }
  });
});
