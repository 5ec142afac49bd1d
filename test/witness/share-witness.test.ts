import { monoNow } from '../../src/util/mono';
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { grantorExpiry } from '../../src/cluster/lease';
import type { WitnessEvent } from '../../src/witness/events';
import { ShareWitnessClient } from '../../src/witness/share-client';
import { followEvents, type EventLog } from '../helpers/harness-process';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';
import { claimAnswer, delay, record, type Recorder } from './helpers';

// The file-share witness with two hosts on one real folder: hv-a in its own process (SIGKILLed to
// stop it renewing), hv-b in the test process, each on its own monotonic clock.

const T = { leaseMs: 1000, grantMarginMs: 200, driftPpm: 1000, fenceLeadMs: 0 };
const WINDOW = grantorExpiry(0, T.leaseMs, T);
const FIXTURE = join(__dirname, 'fixtures', 'share-host.ts');

interface ChildHost {
  child: ChildProcess;
  log: EventLog;
  claim: (module: string, epoch: number, kind: 'own' | 'takeover') => Promise<Record<string, unknown>>;
}

async function childHost(path: string, host: string, peer: string): Promise<ChildHost> {
  const opts = { path, host, peer, modules: ['vm1', 'vm2'], leaseMs: T.leaseMs, grantMarginMs: T.grantMarginMs, driftPpm: T.driftPpm, renewIntervalMs: 200 };
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', FIXTURE, JSON.stringify(opts)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const log = followEvents(child, host);
  await log.waitFor((e) => e.type === 'witness-lease', 60_000, `first lease of ${host}`);
  const claim = (module: string, epoch: number, kind: 'own' | 'takeover'): Promise<Record<string, unknown>> => {
    const from = log.events.length;
    child.stdin!.write(`${JSON.stringify({ claim: [module, epoch, kind] })}\n`);
    return log.waitFor((e) => log.events.indexOf(e) >= from && (e.type === 'witness-claim' || e.type === 'effect-failed') && e.module === module, 10_000, `answer of ${host}`);
  };
  return { child, log, claim };
}

describe('file-share witness (two hosts on one folder)', function () {
  this.timeout(120_000);
  let dir: string;
  let cleanup: () => Promise<void>;
  const closers: Array<() => Promise<void> | void> = [];
  beforeEach(async () => ({ dir, cleanup } = await tempDir('vmmirror-share-')));
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
    await cleanup();
  });

  const hostB = (): { c: ShareWitnessClient; rec: Recorder } => {
    const c = new ShareWitnessClient({ path: dir, hostName: 'hv-b', peerName: 'hv-a', modules: ['vm1', 'vm2'], timings: T, renewIntervalMs: 200, requestTimeoutMs: 5000 });
    const rec = record(c, 'hv-b');
    closers.push(() => c.close());
    c.start();
    return { c, rec };
  };
  const hostA = async (): Promise<ChildHost> => {
    const a = await childHost(dir, 'hv-a', 'hv-b');
    closers.push(() => {
      a.child.kill('SIGKILL');
    });
    return a;
  };

  it('renews, refuses a takeover while the owner renews, grants it only after watching its lease file unchanged for lease + margin', async () => {
    const A = await hostA();
    const B = hostB();
    await B.rec.waitFor((e) => e.type === 'witness-lease', 10_000, 'lease of hv-b');
    expect(await A.claim('vm1', 1, 'own')).to.deep.include({ type: 'witness-claim', granted: true, current: { epoch: 1, owner: 'hv-a' } });
    expect(JSON.parse(await readFile(join(dir, 'modules', 'vm1', 'epoch-1.json'), 'utf8'))).to.deep.equal({ Module: 'vm1', Epoch: 1, Owner: 'hv-a', Kind: 'own' });
    // Both renew: each lease file is rewritten (temp + rename), nothing else is left behind.
    const r1 = await readFile(join(dir, 'leases', 'hv-a.json'), 'utf8');
    await A.log.waitFor((e) => e.type === 'witness-lease' && (e.now as number) > 0, 5000, 'another lease');
    await delay(450);
    expect(await readFile(join(dir, 'leases', 'hv-a.json'), 'utf8')).to.not.equal(r1);
    expect((await readdir(join(dir, 'leases'))).sort()).to.deep.equal(['hv-a.json', 'hv-b.json']);

    const until = monoNow() + 2.5 * WINDOW;
    while (monoNow() < until) {
      const r = await claimAnswer(B.c, B.rec, 'vm1', 2, 'takeover');
      expect(r.e).to.deep.include({ type: 'witness-claim', granted: false, current: { epoch: 1, owner: 'hv-a' } });
      await delay(100);
    }
    expect(await readdir(join(dir, 'modules', 'vm1')), 'a refused takeover creates nothing').to.deep.equal(['epoch-1.json']);
    const leaseB = await B.rec.waitFor((e) => e.type === 'witness-lease' && e.claims.vm1 !== undefined, 5000, 'lease with vm1');
    expect((leaseB.e as Extract<WitnessEvent, { type: 'witness-lease' }>).claims).to.deep.equal({ vm1: { epoch: 1, owner: 'hv-a' } });

    // hv-a dies: its lease file stops changing. hv-b's own clock decides.
    A.child.kill('SIGKILL');
    const killedAt = monoNow();
    let granted;
    for (;;) {
      granted = await claimAnswer(B.c, B.rec, 'vm1', 2, 'takeover');
      if (granted.e.type === 'witness-claim' && granted.e.granted) break;
      await delay(50);
    }
    // Safety: hv-a's last lease (counted from before it wrote) had ended before hv-b was granted.
    const lastAsked = Math.max(...A.log.events.filter((e) => e.type === 'witness-lease').map((e) => e.askedAtOrigin as number));
    expect(granted.at, "granted only after hv-a's last lease ended").to.be.at.least(lastAsked + T.leaseMs);
    process.stderr.write(`      takeover granted ${Math.round(granted.at - killedAt)} ms after hv-a was killed (window ${WINDOW} ms)\n`);
    expect(JSON.parse(await readFile(join(dir, 'modules', 'vm1', 'epoch-2.json'), 'utf8'))).to.deep.include({ Owner: 'hv-b', Kind: 'takeover' });

    // hv-a comes back (a new process): its first lease already names the epoch that overtook it,
    // and its claims of the old epoch are refused.
    const A2 = await hostA();
    const first = A2.log.events.find((e) => e.type === 'witness-lease')!;
    expect(first.claims).to.deep.equal({ vm1: { epoch: 2, owner: 'hv-b' } });
    expect(await A2.claim('vm1', 1, 'own')).to.deep.include({ granted: false, current: { epoch: 2, owner: 'hv-b' } });
    expect(await A2.claim('vm1', 2, 'own')).to.deep.include({ granted: false, current: { epoch: 2, owner: 'hv-b' } });
    // hv-b restarted: it has watched nothing yet, so even its own takeover epoch waits a window.
    await B.c.close();
    const B2 = hostB();
    const again = await claimAnswer(B2.c, B2.rec, 'vm1', 2, 'takeover');
    expect(again.e).to.deep.include({ granted: false });
    const own = await claimAnswer(B2.c, B2.rec, 'vm1', 2, 'own');
    expect(own.e).to.deep.include({ granted: true, current: { epoch: 2, owner: 'hv-b' } });
  });

  it('exclusive creation decides a race: of two hosts claiming the same epoch, exactly one wins', async () => {
    const { seed, int } = seeded('share-race');
    const A = await hostA();
    const B = hostB();
    await B.rec.waitFor((e) => e.type === 'witness-lease', 10_000, 'lease of hv-b');
    for (let epoch = 1; epoch <= 6; epoch++) {
      // Own claims of a fresh epoch by both at once (seeded skew): the first creator wins it.
      const skew = int(0, 3);
      const [ra, rb] = await Promise.all([A.claim('vm2', epoch, 'own'), delay(skew).then(() => claimAnswer(B.c, B.rec, 'vm2', epoch, 'own'))]);
      const aWon = ra.granted === true;
      const bWon = rb.e.type === 'witness-claim' && rb.e.granted;
      expect([aWon, bWon].filter(Boolean), `seed ${seed}, epoch ${epoch}`).to.have.length(1);
      const owner = JSON.parse(await readFile(join(dir, 'modules', 'vm2', `epoch-${epoch}.json`), 'utf8')) as { Owner: string };
      expect(owner.Owner).to.equal(aWon ? 'hv-a' : 'hv-b');
      // The loser is told the epoch is taken, and by whom once the winner's file is readable
      // (owner null: the winner had not finished writing it; the answer is a refusal either way).
      const lost = (aWon ? (rb.e as Extract<WitnessEvent, { type: 'witness-claim' }>).current : ra.current) as { epoch: number; owner: string | null };
      // Or, when the loser judged before the winner's file existed and the epoch before belongs to
      // the other host with a live lease: refused as owner-holds-lease, naming that epoch.
      if (lost.epoch === epoch - 1) expect(lost.owner, `seed ${seed}, epoch ${epoch}`).to.equal('hv-a');
      else {
        expect(lost.epoch, `seed ${seed}, epoch ${epoch}`).to.equal(epoch);
        expect([owner.Owner, null]).to.include(lost.owner);
      }
      if (!aWon) break; // from here hv-a's own claims would need hv-b's lease gone
    }
  });

  it('never builds a path from the share: odd names are ignored, an unreadable epoch file has no owner, an unknown module is refused', async () => {
    const B = hostB();
    await B.rec.waitFor((e) => e.type === 'witness-lease', 10_000, 'lease of hv-b');
    const vm1 = join(dir, 'modules', 'vm1');
    await mkdir(vm1, { recursive: true });
    await writeFile(join(vm1, 'epoch-7.json'), ''); // a creator that died before writing
    await writeFile(join(vm1, 'epoch-99.json.tmp'), '{}');
    await writeFile(join(vm1, 'epoch-0.json'), '{}');
    // Takeover over an epoch with no readable owner: hv-a's lease file is absent, watched for a window first.
    const early = await claimAnswer(B.c, B.rec, 'vm1', 8, 'takeover');
    expect(early.e).to.deep.include({ granted: false, current: { epoch: 7, owner: null } });
    await delay(WINDOW + 300);
    const r = await claimAnswer(B.c, B.rec, 'vm1', 8, 'takeover');
    expect(r.e).to.deep.include({ granted: true, current: { epoch: 8, owner: 'hv-b' } });
    const bad = await claimAnswer(B.c, B.rec, 'other', 1, 'own');
    expect(bad.e).to.deep.include({ type: 'effect-failed', code: 'CONFIG_INVALID' });
    const travers = await claimAnswer(B.c, B.rec, '../vm1', 1, 'own');
    expect(travers.e).to.deep.include({ type: 'effect-failed', code: 'CONFIG_INVALID' });
    expect(() => new ShareWitnessClient({ path: dir, hostName: '../x', peerName: 'hv-a', modules: [], timings: T, renewIntervalMs: 200, requestTimeoutMs: 1000 })).to.throw(/not a valid name/);
  });

  it('a missing share gives no lease and failed claims, never an exception', async () => {
    const c = new ShareWitnessClient({ path: join(dir, 'absent'), hostName: 'hv-b', peerName: 'hv-a', modules: ['vm1'], timings: T, renewIntervalMs: 100, requestTimeoutMs: 2000 });
    closers.push(() => c.close());
    const rec = record(c, 'hv-b');
    c.start();
    const r = await claimAnswer(c, rec, 'vm1', 1, 'own');
    expect(r.e).to.deep.include({ type: 'effect-failed', code: 'FILE_NOT_FOUND' });
    await delay(400);
    expect(rec.events.filter((x) => x.e.type === 'witness-lease')).to.have.length(0);
  });
});
