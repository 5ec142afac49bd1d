import { expect } from 'chai';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { grantorExpiry } from '../../src/cluster/lease';
import { monoNow } from '../../src/util/mono';
import type { WitnessEvent } from '../../src/witness/events';
import { ShareWitnessClient } from '../../src/witness/share-client';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';
import { claimAnswer, delay, handoverAnswer, record, type Recorder } from './helpers';

// A planned handover on the file-share witness, two hosts on one real folder: the owner creates
// the next epoch file exclusively, naming the peer as its Owner.

const T = { leaseMs: 1000, grantMarginMs: 200, driftPpm: 1000, fenceLeadMs: 0 };
const WINDOW = grantorExpiry(0, T.leaseMs, T);
const MODULES = ['vm1', 'vm2', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6'];
type Lease = Extract<WitnessEvent, { type: 'witness-lease' }>;
type Claim = Extract<WitnessEvent, { type: 'witness-claim' }>;

describe('file-share witness: a handover (two hosts on one folder)', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => Promise<void>;
  const closers: Array<() => Promise<void>> = [];
  beforeEach(async () => ({ dir, cleanup } = await tempDir('vmmirror-share-handover-')));
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
    await cleanup();
  });

  /** A host's client; `renew: false` leaves it silent (it never writes its lease file). */
  const host = (name: 'hv-a' | 'hv-b', renew = true): { c: ShareWitnessClient; rec: Recorder } => {
    const c = new ShareWitnessClient({ path: dir, hostName: name, peerName: name === 'hv-a' ? 'hv-b' : 'hv-a', modules: MODULES, timings: T, renewIntervalMs: 100, requestTimeoutMs: 5000 });
    closers.push(() => c.close());
    const rec = record(c, name);
    if (renew) c.start();
    return { c, rec };
  };
  const epochFile = async (module: string, epoch: number): Promise<unknown> => JSON.parse(await readFile(join(dir, 'modules', module, `epoch-${epoch}.json`), 'utf8'));
  const files = (module: string): Promise<string[]> => readdir(join(dir, 'modules', module)).then((n) => n.sort());
  const leaseAfter = async (rec: Recorder, after: number): Promise<Lease> => (await rec.waitFor((e) => e.type === 'witness-lease' && e.askedAt >= after, 10_000, 'a lease asked after the handover')).e as Lease;

  it("the owner's handover creates E+1 naming the peer; a repeat is granted; both hosts' later leases name (E+1, to)", async () => {
    const A = host('hv-a');
    const B = host('hv-b');
    await B.rec.waitFor((e) => e.type === 'witness-lease', 10_000, 'lease of hv-b');
    expect((await claimAnswer(A.c, A.rec, 'vm1', 1, 'own')).e).to.deep.include({ granted: true, current: { epoch: 1, owner: 'hv-a' } });
    // hv-a renews, so hv-b's takeover is refused; hv-a's handover needs no lease of anyone.
    expect((await claimAnswer(B.c, B.rec, 'vm1', 2, 'takeover')).e).to.deep.include({ granted: false, current: { epoch: 1, owner: 'hv-a' } });
    const granted = await handoverAnswer(A.c, A.rec, 'vm1', 2, 'hv-b');
    expect(granted.e).to.deep.include({ type: 'witness-claim', module: 'vm1', epoch: 2, granted: true, current: { epoch: 2, owner: 'hv-b' } });
    expect(await epochFile('vm1', 2)).to.deep.equal({ Module: 'vm1', Epoch: 2, Owner: 'hv-b', Kind: 'handover' });
    const answeredAt = monoNow();
    expect((await leaseAfter(A.rec, answeredAt)).claims.vm1).to.deep.equal({ epoch: 2, owner: 'hv-b' });
    expect((await leaseAfter(B.rec, answeredAt)).claims.vm1).to.deep.equal({ epoch: 2, owner: 'hv-b' });
    // A repeat (the answer was lost) is granted again, and creates nothing.
    expect((await handoverAnswer(A.c, A.rec, 'vm1', 2, 'hv-b')).e).to.deep.include({ granted: true, current: { epoch: 2, owner: 'hv-b' } });
    expect(await files('vm1')).to.deep.equal(['epoch-1.json', 'epoch-2.json']);
    // The receiver owns it: it confirms it; the old owner's own claim of it is stale.
    expect((await claimAnswer(B.c, B.rec, 'vm1', 2, 'own')).e).to.deep.include({ granted: true, current: { epoch: 2, owner: 'hv-b' } });
    expect((await claimAnswer(A.c, A.rec, 'vm1', 2, 'own')).e).to.deep.include({ granted: false, current: { epoch: 2, owner: 'hv-b' } });
    // And hands it back.
    expect((await handoverAnswer(B.c, B.rec, 'vm1', 3, 'hv-a')).e).to.deep.include({ granted: true, current: { epoch: 3, owner: 'hv-a' } });
    expect(await epochFile('vm1', 3)).to.deep.equal({ Module: 'vm1', Epoch: 3, Owner: 'hv-a', Kind: 'handover' });
    expect((await leaseAfter(A.rec, monoNow())).claims.vm1).to.deep.equal({ epoch: 3, owner: 'hv-a' });
  });

  it('refuses a handover by the non-owner, to itself or a stranger, skipping an epoch, or of an unreadable epoch, and creates nothing', async () => {
    const A = host('hv-a');
    const B = host('hv-b');
    await B.rec.waitFor((e) => e.type === 'witness-lease', 10_000, 'lease of hv-b');
    expect((await claimAnswer(A.c, A.rec, 'vm2', 1, 'own')).e).to.deep.include({ granted: true });
    const refused = { type: 'witness-claim', granted: false, current: { epoch: 1, owner: 'hv-a' } };
    expect((await handoverAnswer(B.c, B.rec, 'vm2', 2, 'hv-a')).e).to.deep.include(refused);
    expect((await handoverAnswer(A.c, A.rec, 'vm2', 2, 'hv-a')).e).to.deep.include(refused);
    expect((await handoverAnswer(A.c, A.rec, 'vm2', 2, 'hv-c')).e).to.deep.include(refused);
    expect((await handoverAnswer(A.c, A.rec, 'vm2', 2, undefined)).e).to.deep.include(refused);
    expect((await handoverAnswer(A.c, A.rec, 'vm2', 3, 'hv-b')).e).to.deep.include(refused);
    expect((await handoverAnswer(A.c, A.rec, 'r1', 1, 'hv-b')).e).to.deep.include({ granted: false, current: { epoch: 0, owner: null } });
    expect(await files('vm2')).to.deep.equal(['epoch-1.json']);
    // An epoch file nobody can read (a creator that died mid-write): no owner, so no handover of it or after it.
    await writeFile(join(dir, 'modules', 'vm2', 'epoch-2.json'), '');
    expect((await handoverAnswer(A.c, A.rec, 'vm2', 2, 'hv-b')).e).to.deep.include({ granted: false, current: { epoch: 2, owner: null } });
    expect((await handoverAnswer(A.c, A.rec, 'vm2', 3, 'hv-b')).e).to.deep.include({ granted: false, current: { epoch: 2, owner: null } });
    expect(await files('vm2')).to.deep.equal(['epoch-1.json', 'epoch-2.json']);
    // A module outside this host's config is refused before the share is touched.
    expect((await handoverAnswer(A.c, A.rec, 'other', 2, 'hv-b')).e).to.deep.include({ type: 'effect-failed', code: 'CONFIG_INVALID' });
  });

  it("seeded race: the owner's handover of E+1 against the peer's takeover of E+1 (owner silent) always ends with E+1 owned by the peer", async () => {
    const { seed, int } = seeded('share-handover-race');
    // hv-a never renews: hv-b watches its absent lease file for a window and judges it expired.
    const A = host('hv-a', false);
    const B = host('hv-b');
    const since = monoNow();
    await B.rec.waitFor((e) => e.type === 'witness-lease' && e.askedAt >= since + WINDOW, 10_000, 'hv-b lease a window later');
    const wins = { handover: 0, takeover: 0 };
    for (const module of ['r1', 'r2', 'r3', 'r4', 'r5', 'r6']) {
      expect((await claimAnswer(A.c, A.rec, module, 1, 'own')).e, `seed ${seed}`).to.deep.include({ granted: true });
      const skewA = int(0, 8);
      const skewB = int(0, 8);
      const [ha, tb] = await Promise.all([delay(skewA).then(() => handoverAnswer(A.c, A.rec, module, 2, 'hv-b')), delay(skewB).then(() => claimAnswer(B.c, B.rec, module, 2, 'takeover'))]);
      const at = `seed ${seed}, ${module}, skew ${skewA}/${skewB}`;
      const file = (await epochFile(module, 2)) as { Owner: string; Kind: string };
      expect(file.Owner, at).to.equal('hv-b');
      wins[file.Kind as 'handover' | 'takeover']++;
      expect(await files(module), at).to.deep.equal(['epoch-1.json', 'epoch-2.json']);
      // The handover is granted whoever created the file (the share says what it asked), unless
      // the file was still unwritten after the reader's wait: then it is refused naming no owner,
      // and the retry is granted.
      expect(ha.e, at).to.deep.include({ type: 'witness-claim', current: { epoch: 2, owner: (ha.e as Claim).granted ? 'hv-b' : null } });
      if (!(ha.e as Claim).granted) expect((await handoverAnswer(A.c, A.rec, module, 2, 'hv-b')).e, at).to.deep.include({ granted: true, current: { epoch: 2, owner: 'hv-b' } });
      // The takeover is granted, or (it lost the create) refused naming hv-b or no owner yet: never another owner.
      const t = tb.e as Claim;
      expect(t.type, at).to.equal('witness-claim');
      expect(t.current.epoch, at).to.equal(2);
      expect(t.granted ? ['hv-b'] : ['hv-b', null], at).to.include(t.current.owner);
    }
    process.stderr.write(`      seed ${seed}: epoch file created by the handover ${wins.handover}, by the takeover ${wins.takeover} of 6\n`);
  });
});
