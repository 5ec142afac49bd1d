import { expect } from 'chai';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { simulatedVmPids } from '../../src/hypervisor/simulated';
import { netnsAvailable, requireNetnsOrSkip } from '../helpers/netns';
import { seeded } from '../helpers/seed';
import { clusterUnderTest, type ClusterUnderTest } from './cluster';
import { defaultPlacement, waitPlacement } from './steps';

// The harness's own primitives, with real processes: every process runs in its host's namespace,
// a whole-host kill takes the agent, the guard and the VMs and nothing of the other host, an
// agent-only kill leaves the guard and the VMs running, and the witness can be killed alone.

function netnsInode(pid: number): number {
  return statSync(`/proc/${pid}/ns/net`).ino;
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('test/cluster-e2e/harness', function () {
  this.timeout(180_000);
  let c: ClusterUnderTest;
  before(async function () {
    if (!netnsAvailable()) return requireNetnsOrSkip(this);
    const rnd = seeded('cluster-e2e harness');
    process.stderr.write(`      seed ${rnd.seed}\n`);
    c = await clusterUnderTest({ vms: 2, seed: rnd.seed });
  });
  after(async () => c?.cleanup());

  it('starts the witness, and the guard and agent of each host, each inside its own network namespace', async () => {
    await c.startAll();
    for (const [name, ns] of [['witness', c.ns.witness], ['hva-agent', c.ns.hva], ['hva-guard', c.ns.hva], ['hvb-agent', c.ns.hvb], ['hvb-guard', c.ns.hvb]] as const) {
      const pid = c.pids()[name];
      expect(alive(pid), `${name} runs`).to.equal(true);
      expect(netnsInode(pid!), `${name} runs in ${ns.ns}`).to.equal(statSync(join('/run/netns', ns.ns)).ino);
    }
    expect(netnsInode(c.pids()['hva-agent']!)).to.not.equal(netnsInode(process.pid));
  });

  it('kills a whole host (agent, guard and VMs, nothing of the other host), then an agent alone (its guard and VMs live on), then the witness', async () => {
    // The agents start the VMs on their default primaries (the lab registered each on both hosts).
    const simOf = (h: string): string => c.lab.Hosts.find((x) => x.Name === h)!.SimDirectory;
    c.sampler.start();
    await waitPlacement(c, defaultPlacement(c), 'every VM on its default primary', 90_000);
    await c.sampler.stop();
    const vmsOnA = await simulatedVmPids(simOf('hva'));
    expect(vmsOnA.length).to.be.at.least(1);
    const before = c.pids();
    // The whole-host kill first (hva's agent still renews its VMs' lease: nothing else may stop them).
    await c.killHost('hvb');
    expect(alive(before['hvb-agent']) || alive(before['hvb-guard'])).to.equal(false);
    expect(await simulatedVmPids(simOf('hvb'))).to.deep.equal([]);
    expect(await simulatedVmPids(simOf('hva')), "hva's VMs are not touched by hvb's crash").to.deep.equal(vmsOnA);
    expect(alive(before['hva-agent']) && alive(before['hva-guard']) && alive(before.witness)).to.equal(true);

    await c.killAgent('hva');
    expect(alive(before['hva-agent'])).to.equal(false);
    expect(alive(before['hva-guard']), 'the guard outlives its agent').to.equal(true);
    expect(await simulatedVmPids(simOf('hva')), "hva's VMs outlive its agent").to.deep.equal(vmsOnA);

    await c.killWitness();
    expect(alive(before.witness)).to.equal(false);
    expect(alive(before['hva-guard'])).to.equal(true);
    // A host comes back with the same config: its processes start again.
    await c.startHost('hvb');
    expect(alive(c.pids()['hvb-agent'])).to.equal(true);
  });
});
