import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { callAgent } from '../../../src/agent/control/client';
import { StatusDocument } from '../../../src/agent/control/documents';
import { controlEndpoint } from '../../../src/agent/control/endpoint';
import { ModuleRecord } from '../../../src/cluster/record';
import { simulatedVmPids } from '../../../src/hypervisor/simulated';
import { crashLab, startLab } from '../../../src/lab/lifecycle';
import type { LabHost } from '../../../src/lab/schema';
import { seeded } from '../../helpers/seed';
import { createTestLab, readJsonFile, type LabUnderTest } from '../../lab/lab-cli';

// The cold-start opt-in with real agents (`vmmirror lab`, no witness in cluster.json): both hosts
// are SIGKILLed, then hvb alone comes back. Without Policies.ColdStartAloneSeconds it waits (C3),
// past the instant the opt-in would act; with it, it starts both VMs: vm2, which it owned, under
// the same epoch; vm1, whose replica it held, under the next one. hva then returns and holds both
// replicas (vm1 after a resync). Judged by the agents' status, the durable records and the
// simulated hypervisor's VM processes.

async function patchJson(path: string, edit: (j: Record<string, any>) => void): Promise<void> {
  const j = (await readJsonFile(path)) as Record<string, any>;
  edit(j);
  await writeFile(path, `${JSON.stringify(j, null, 2)}\n`);
}

async function status(h: LabHost): Promise<StatusDocument> {
  return StatusDocument.parse(await callAgent({ ...(await controlEndpoint(h.ConfigDirectory)), timeoutMs: 5000 }, 'GET', '/v1/status'));
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(100);
  }
}

describe('agent: cold start alone (Policies.ColdStartAloneSeconds, no witness)', function () {
  this.timeout(180_000);
  const rng = seeded('cold start alone');
  let t: LabUnderTest;
  let hva: LabHost;
  let hvb: LabHost;
  const optIn = async (h: LabHost, seconds: number | null): Promise<void> => {
    for (const m of t.lab.Modules) {
      await patchJson(join(h.ConfigDirectory, 'modules', `${m.Name}.json`), (j) => {
        j.Policies = { ...(j.Policies ?? {}), ColdStartAloneSeconds: seconds };
      });
    }
  };
  const record = async (h: LabHost, module: string): Promise<ModuleRecord> => ModuleRecord.parse(await readJsonFile(join(h.DataDirectory, 'cluster', `${module}.json`)));
  const vmsOn = async (h: LabHost): Promise<string[]> => (await simulatedVmPids(h.SimDirectory)).map((v) => v.vmId).sort();

  before(async () => {
    process.stderr.write(`      lab seed ${rng.seed}\n`);
    t = await createTestLab(rng.seed, ['--vms', '2', '--interval', '1', '--heartbeat-ms', '250', '--peer-timeout-ms', '1000']);
    [hva, hvb] = t.lab.Hosts as [LabHost, LabHost];
    for (const h of t.lab.Hosts) {
      await patchJson(join(h.ConfigDirectory, 'cluster.json'), (j) => {
        delete j.Witness;
      });
      await optIn(h, 60);
    }
  });
  after(() => t?.cleanup());

  let t0 = Date.now();
  const phase = (what: string): void => void process.stderr.write(`      ${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}\n`);

  it('starts alone only with the opt-in, under a new epoch for the replica it held, and takes the returning peer back as SECOND', async () => {
    t0 = Date.now();
    const [vm1, vm2] = t.lab.Modules as [(typeof t.lab.Modules)[number], (typeof t.lab.Modules)[number]];
    expect([vm1.DefaultPrimary, vm2.DefaultPrimary]).to.deep.equal(['hva', 'hvb']);
    await startLab(t.dir);
    phase('lab started');
    // Running and replicating: hvb's freshness record vouches for its vm1 replica (a heartbeat after a cycle).
    const fresh = await until('hvb to record the age of its vm1 replica', async () => {
      const f = (await readJsonFile(join(hvb.DataDirectory, 'cold-start-freshness.json'))) as { Modules: Record<string, { Generation: number; BehindMs: number }> };
      const e = f.Modules[vm1.Name];
      const r = await record(hvb, vm1.Name);
      return e !== undefined && r.State === 'SECOND' && e.Generation === r.Generation ? e : undefined;
    });
    expect(fresh.BehindMs, 'a 1 s interval keeps the replica seconds behind, not a minute').to.be.below(60_000);

    phase('freshness recorded');
    // Both hosts die (agents, guards and VMs).
    for (const h of ['hva', 'hvb']) await crashLab(t.dir, h);
    const before1 = await record(hvb, vm1.Name);
    const before2 = await record(hvb, vm2.Name);
    expect([before1.Owner, before2.Owner]).to.deep.equal(['hva', 'hvb']);

    phase('both crashed');
    // Without the opt-in: hvb waits, even once the lease it may have granted hva has run out.
    await optIn(hvb, null);
    await startLab(t.dir, 'hvb');
    await until('the grant made at start to run out', async () => ((await status(hvb)).Quorum.GrantedToPeerForMs ?? 0) <= 0 || undefined);
    for (let i = 0; i < 8; i++) {
      // Several ticks of the machine (250 ms each) after the instant the opt-in would have acted.
      const s = await status(hvb);
      for (const m of s.Modules) expect([m.Name, m.State, m.WaitReason], `without the opt-in (${i})`).to.deep.equal([m.Name, 'WAIT', 'cold-start']);
      expect(await vmsOn(hvb)).to.deep.equal([]);
      await sleep(250);
    }
    phase('waited without opt-in');
    await crashLab(t.dir, 'hvb');

    phase('restarting with opt-in');
    // With the opt-in: both VMs start on hvb.
    await optIn(hvb, 60);
    await startLab(t.dir, 'hvb');
    await until('both VMs to run on hvb', async () => ((await vmsOn(hvb)).length === 2 ? true : undefined));
    phase('VMs run on hvb');
    const s = await until('both modules ALONE on hvb', async () => {
      const st = await status(hvb);
      return st.Modules.every((m) => m.State === 'ALONE') ? st : undefined;
    });
    expect(await vmsOn(hvb)).to.deep.equal([vm1.VmId, vm2.VmId].sort());
    const after1 = await record(hvb, vm1.Name);
    const after2 = await record(hvb, vm2.Name);
    expect([after1.State, after1.Owner, after1.Epoch], 'the replica took the next epoch').to.deep.equal(['ALONE', 'hvb', before1.Epoch + 1]);
    expect([after2.State, after2.Owner, after2.Epoch], 'the owner kept its epoch').to.deep.equal(['ALONE', 'hvb', before2.Epoch]);
    expect(s.Modules.map((m) => m.Name).sort()).to.deep.equal([vm1.Name, vm2.Name].sort());

    phase('hvb ALONE');
    // hva returns: it starts nothing, resyncs vm1 (the epoch moved on) and holds both replicas.
    await startLab(t.dir, 'hva');
    await until('hva to hold both replicas as SECOND', async () => {
      const st = await status(hva);
      return st.Modules.every((m) => m.State === 'SECOND') ? true : undefined;
    });
    phase('hva SECOND');
    expect(await vmsOn(hva)).to.deep.equal([]);
    expect((await record(hva, vm1.Name)).Epoch).to.equal(before1.Epoch + 1);
  });
});
