import { expect } from 'chai';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { seeded } from '../helpers/seed';
import { steadyAdversaryLab, waitRunning, type AdversaryLab } from './adversary-lab';

// Adversarial review, item 3 continued (issue 8): the witness's own state. Its claims file is
// the only record, outside the hosts, of who owns each module's newest epoch; C3 says the first
// host back after a cold start waits until the peer or the witness tells it its copy is the
// newest. A garbled claims file must stop the witness (WITNESS_STATE_INVALID); a witness whose
// claims file is gone (replaced, restored from an old backup, pointed at a fresh folder) must not
// confirm a stale copy to the host that comes back first. vm1's default primary is hva.

describe('adversarial: the witness loses its claims, then the host with the older copy comes back alone', function () {
  this.timeout(300_000);
  const rnd = seeded('adversarial witness');
  let a: AdversaryLab;
  const figures: Record<string, unknown> = {};
  before(async () => {
    process.stderr.write(`      seed ${rnd.seed}\n`);
    a = await steadyAdversaryLab(rnd.seed);
  });
  after(async () => {
    process.stderr.write(`      FIGURES adversarial-witness seed ${rnd.seed}: ${JSON.stringify(figures)}\n`);
    await a?.cleanup();
  });

  it('a garbled claims file stops the witness with WITNESS_STATE_INVALID; with the file gone, the stale host that returns alone does not start its older copy of vm1', async () => {
    const claimsPath = join(a.lab.Witness.Directory, 'claims.json');
    // hva dies; vm1 goes on on hvb under a newer epoch, and writes there (the newest history).
    await a.crash('hva');
    await waitRunning(a, { vm1: 'hvb', vm2: 'hvb' }, 'both VMs on hvb', 60_000);
    await sleep(rnd.int(2000, 4000));
    const claims = JSON.parse(await readFile(claimsPath, 'utf8')) as { Claims: Record<string, { Epoch: number; Owner: string }> };
    expect(claims.Claims.vm1, "the witness's record of vm1 after the takeover").to.include({ Owner: 'hvb' });
    // Then everything stops: hvb and the witness.
    await a.crash('hvb');
    await a.crash('witness');
    const text = await readFile(claimsPath, 'utf8');
    await writeFile(claimsPath, text.slice(0, rnd.int(1, text.length - 2)));
    const refused = await a.cli(['lab', 'start', a.dir, 'witness']);
    expect(refused.exitCode, 'lab start of a witness with a garbled claims file').to.not.equal(0);
    expect(refused.stdout + refused.stderr).to.contain('WITNESS_STATE_INVALID');
    // Gone altogether: refused too (init made the file; a missing one is damage, not a new witness).
    await rm(claimsPath);
    const missing = await a.cli(['lab', 'start', a.dir, 'witness']);
    expect(missing.exitCode, 'lab start of a witness whose claims file is gone').to.not.equal(0);
    expect(missing.stdout + missing.stderr).to.contain('WITNESS_STATE_INVALID');
    // The operator replaces it with an empty one (it knows no module), and only hva comes back.
    await writeFile(claimsPath, '{"Version":1,"Claims":{}}\n');
    await a.start('witness');
    const t0 = performance.now();
    await a.start('hva');
    await sleep(12_000);
    const onHva = a.sampler.firstRunningAfter(a.vmOf('vm1'), 'hva', t0);
    const states = await a.states('hva');
    figures.emptyWitness = { vm1StartedOnHvaAfterMs: onHva === null ? null : Math.round(onHva - t0), hvaStates: states, witnessClaims: JSON.parse(await readFile(claimsPath, 'utf8').catch(() => '{}')) as unknown };
    // C3: hva's confirmation of its old epoch is refused (unknown-epoch): its older copy stays off.
    expect(onHva, `vm1 started on hva from its older copy (epoch ${claims.Claims.vm1?.Epoch} belonged to hvb) after ${onHva === null ? '-' : (onHva - t0).toFixed(0)} ms`).to.equal(null);
    expect(states.vm1, 'vm1 on hva').to.equal('WAIT');
    // hvb returns: the two hosts agree without the witness (the newer epoch wins: hvb runs vm1, hva
    // resyncs). Failbacks stay refused by the empty witness (it cannot vouch for an epoch it never
    // granted; re-registration is not built): judged is safety, not placement.
    await a.start('hvb');
    await waitRunning(a, { vm1: 'hvb' }, 'vm1 on hvb after both hosts are back', 60_000);
    await sleep(3000);
    const overlaps = a.sampler.overlaps().filter((o) => o.at >= t0);
    expect(overlaps.map((o) => `${o.vmId.slice(0, 8)} on ${o.hosts.join('+')}`), 'samples with a VM on both hosts').to.deep.equal([]);
    expect(a.epochs.decreases(), 'an epoch went down').to.deep.equal([]);
    expect((await a.states('hvb')).vm1).to.be.oneOf(['ALONE', 'PRIM']);
  });
});
