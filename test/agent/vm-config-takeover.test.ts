import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { callAgent } from '../../src/agent/control/client';
import { StatusDocument } from '../../src/agent/control/documents';
import { controlEndpoint } from '../../src/agent/control/endpoint';
import { StoredVmConfig } from '../../src/agent/vm-config-store';
import { createSimulatedHypervisor, simulatedVmPids } from '../../src/hypervisor/simulated';
import { crashLab, startLab } from '../../src/lab/lifecycle';
import { LabVerifyOutput } from '../../src/lab/schema';
import { verifyLab } from '../../src/lab/verify';
import { seeded } from '../helpers/seed';
import { createTestLab, type LabUnderTest } from '../lab/lab-cli';

// Two real agents (and the witness, and the guards) from `vmmirror lab create --register primary`:
// the VM is registered on its default primary only. The running host sends its exported
// configuration after a cycle; when it is SIGKILLed whole, the survivor registers the VM over ITS
// OWN copy (same id, the MAC the VM had, pinned) and runs it; the lab's verifier judges the copies.
// About 35 s, most of it the CLI's and the agents' start-up.

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => null);
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

describe('takeover of a VM registered only on the dead host: the survivor registers it from the exported configuration (lab, real agents)', function () {
  this.timeout(240_000);
  const rnd = seeded('vm-config takeover');
  let t: LabUnderTest;
  before(async () => {
    process.stderr.write(`      lab seed ${rnd.seed}\n`);
    t = await createTestLab(rnd.seed, ['--vms', '1', '--register', 'primary', '--interval', '1', '--heartbeat-ms', '250', '--peer-timeout-ms', '2500']);
  });
  after(() => t?.cleanup());

  it('hvb holds no VM; after hva dies it registers the VM over its own copy with the original MAC, runs it, and every copy is consistent', async () => {
    const m = t.lab.Modules[0]!;
    expect(m.DefaultPrimary).to.equal('hva');
    const [hva, hvb] = [t.lab.Hosts.find((h) => h.Name === 'hva')!, t.lab.Hosts.find((h) => h.Name === 'hvb')!];
    const simB = createSimulatedHypervisor(hvb.SimDirectory);
    expect(await simB.getVm(m.VmId), 'the lab registered nothing on hvb').to.equal(null);
    expect((await createSimulatedHypervisor(hva.SimDirectory).getVm(m.VmId))?.networkAdapters[0]?.macAddress).to.equal(m.MacAddress);

    const t0 = Date.now();
    // In process (the lab's own functions), to spare the suite a CLI start-up per step; `lab create` above ran the CLI.
    await startLab(t.dir);
    // hvb holds a replicated generation at the owner's epoch, and the export that came with it.
    const storedPath = join(hvb.DataDirectory, 'replicas', m.Name, 'vm-config', 'current.json');
    const stored = await until('the export stored on hvb', 90_000, async () => StoredVmConfig.parse(JSON.parse(await readFile(storedPath, 'utf8'))));
    expect(stored.VmId).to.equal(m.VmId);
    expect(stored.Adapters.map((a) => a.macAddress)).to.deep.equal([m.MacAddress]);
    await until('hvb SECOND with a generation', 60_000, async () => {
      const s = StatusDocument.parse(await callAgent({ ...(await controlEndpoint(hvb.ConfigDirectory)), timeoutMs: 5000 }, 'GET', '/v1/status'));
      const mod = s.Modules.find((x) => x.Name === m.Name);
      return mod?.State === 'SECOND' && (mod.LocalGeneration ?? 0) >= 1 ? true : null;
    });
    expect(await simB.getVm(m.VmId), 'still nothing registered on hvb before the takeover').to.equal(null);

    const tReplicated = Date.now();
    const crash = await crashLab(t.dir, 'hva');
    const tKilled = Date.now();
    expect(crash.Vms).to.deep.equal([{ Host: 'hva', VmId: m.VmId, Action: 'killed' }]);
    const vm = await until('the VM running on hvb', 60_000, async () => {
      const now = await simB.getVm(m.VmId);
      return now?.state === 'Running' ? now : null;
    });
    const ownCopy = m.Copies.find((c) => c.Host === 'hvb')!.Path;
    process.stderr.write(`      start to replicated with the export stored: ${tReplicated - t0} ms; kill to running on hvb (registration included): ${Date.now() - tKilled} ms\n`);
    expect((await simulatedVmPids(hvb.SimDirectory)).map((x) => x.vmId)).to.deep.equal([m.VmId]);
    expect(vm.disks.map((d) => d.basePath), "the registered VM's disk is hvb's own copy").to.deep.equal([ownCopy]);
    expect(vm.networkAdapters.map((a) => [a.macAddress, a.dynamicMac, a.switchName])).to.deep.equal([[m.MacAddress, false, 'LAN']]);
    const agentLog = await readFile(join(t.dir, 'logs', 'hvb-agent.log'), 'utf8');
    expect(agentLog, 'hvb logged the registration').to.match(/"event":"replica-registered"/);

    // Let the guest write on hvb for a moment, then judge: one host runs it, each copy a consistent prefix.
    await sleep(rnd.int(500, 1500));
    const report = LabVerifyOutput.parse(await verifyLab(t.dir));
    expect(report.Vms[0]!.RunningOn).to.deep.equal(['hvb']);
    expect(report.Ok, JSON.stringify(report.Problems)).to.equal(true);
  });
});
