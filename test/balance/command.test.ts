import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BalanceDocument, runBalance } from '../../src/cli/commands/balance';
import { loadConfig } from '../../src/config';
import { type VmmirrorError, hasCode } from '../../src/errors';
import { createLab } from '../../src/lab/create';
import type { LabFile } from '../../src/lab/schema';
import { vmmirror } from '../cli/vmmirror-process';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';
import { bruteForce } from './brute-force';

// `vmmirror balance` on the two config folders of a real `vmmirror lab` (no agents needed): both
// hosts compute the same plan, every refusal leaves every module file byte for byte as it was
// (a file made immutable with chattr makes a real rewrite fail half-way), and the applied rewrite
// leaves the two hosts' module files identical and each host on the very disk files it had.

async function moduleFiles(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const n of (await readdir(join(dir, 'modules'))).sort()) out.set(n, await readFile(join(dir, 'modules', n), 'utf8'));
  return out;
}

async function localPaths(dir: string): Promise<Record<string, string[]>> {
  const c = await loadConfig(dir);
  return Object.fromEntries(c.modules.map((m) => [m.name, m.disks === 'auto' ? [] : m.disks.map((d) => d.localPath)]));
}

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('vmmirror balance (on a lab)', function () {
  this.timeout(120_000);
  const rnd = seeded('balance command lab');
  let lab: LabFile;
  let cleanup: () => Promise<void>;
  let dirA: string;
  let dirB: string;

  before(async () => {
    process.stderr.write(`      lab seed ${rnd.seed}\n`);
    const t = await tempDir('vmmirror-balance-');
    cleanup = t.cleanup;
    lab = await createLab({ dir: join(t.dir, 'lab'), vms: 4, diskMiB: 4, seed: rnd.seed, writesPerSecond: 0 });
    [dirA, dirB] = lab.Hosts.map((h) => h.ConfigDirectory);
    // vm1 and vm3 (hva) are heavy and must be kept apart; vm2 (hvb) is light; vm4 (hvb) has no
    // Weight: its simulated VM's 512 MiB and 2 vCPUs weigh 2.5 on both hosts.
    const extra: Record<string, object> = { vm1: { Weight: 10, AntiAffinityGroup: 'dc' }, vm2: { Weight: 1 }, vm3: { Weight: 10, AntiAffinityGroup: 'DC' }, vm4: {} };
    for (const dir of [dirA, dirB]) {
      for (const [name, fields] of Object.entries(extra)) {
        const path = join(dir, 'modules', `${name}.json`);
        await writeFile(path, `${JSON.stringify({ ...JSON.parse(await readFile(path, 'utf8')), ...fields }, null, 2)}\n`);
      }
    }
  });
  after(() => cleanup?.());

  let planId: string;

  it('prints one plan document, the same on both hosts, optimal against brute force, and changes nothing', async () => {
    const before = [await moduleFiles(dirA), await moduleFiles(dirB)];
    const r = await vmmirror(['balance', '--dir', dirA, '--json']);
    expect(r.exitCode, r.stderr).to.equal(0);
    const doc = BalanceDocument.parse(JSON.parse(r.stdout));
    const onB = BalanceDocument.parse((await runBalance({ dir: dirB })).json);
    planId = doc.PlanId;
    expect(onB.PlanId).to.equal(doc.PlanId);
    expect(onB.Moves).to.deep.equal(doc.Moves);
    expect(doc.Modules.map((m) => [m.Name, m.Load, m.LoadSource])).to.deep.equal([['vm1', 10, 'Weight'], ['vm2', 1, 'Weight'], ['vm3', 10, 'Weight'], ['vm4', 2.5, 'Vm']]);
    expect(doc.Hosts).to.deep.equal([{ Name: 'hva', CurrentLoad: 20, ProposedLoad: 11 }, { Name: 'hvb', CurrentLoad: 3.5, ProposedLoad: 12.5 }]);
    expect(doc.Moves).to.deep.equal([{ Module: 'vm2', From: 'hvb', To: 'hva' }, { Module: 'vm3', From: 'hva', To: 'hvb' }]);
    const judge = bruteForce(['hva', 'hvb'], doc.Modules.map((m) => ({ name: m.Name, load: m.Load, current: m.CurrentPrimary, ...(m.AntiAffinityGroup !== null ? { group: m.AntiAffinityGroup } : {}) })));
    expect(doc.Modules.map((m) => m.ProposedPrimary)).to.deep.equal((judge.hosts as number[]).map((h) => ['hva', 'hvb'][h]));
    expect(doc).to.include({ Applied: false, Exact: true, Method: 'enumeration' });
    expect([await moduleFiles(dirA), await moduleFiles(dirB)]).to.deep.equal(before);
  });

  it('refuses --apply while the peer cannot be rewritten, and a plan id that is not this host\'s: nothing changes', async () => {
    const before = [await moduleFiles(dirA), await moduleFiles(dirB)];
    const peer = (await rejection(runBalance({ dir: dirA, apply: true }))) as VmmirrorError;
    expect(hasCode(peer, 'BALANCE_PEER_UNAVAILABLE'), peer.message).to.equal(true);
    expect(peer.exitCode).to.equal(7);
    expect(peer.message).to.include(`--expect ${planId}`);
    const wrong = await rejection(runBalance({ dir: dirA, apply: true, localOnly: true, expect: '0123456789abcdef' }));
    expect(hasCode(wrong, 'BALANCE_PLAN_CHANGED'), wrong.message).to.equal(true);
    const noExpect = await rejection(runBalance({ dir: dirA, apply: true, localOnly: true }));
    expect(hasCode(noExpect, 'USAGE'), noExpect.message).to.equal(true);
    expect([await moduleFiles(dirA), await moduleFiles(dirB)]).to.deep.equal(before);
  });

  it('puts back the files it rewrote when a later rewrite really fails (an immutable module file)', async () => {
    const before = await moduleFiles(dirA);
    const locked = join(dirA, 'modules', 'vm3.json');
    execFileSync('chattr', ['+i', locked]);
    try {
      const err = await rejection(runBalance({ dir: dirA, apply: true, localOnly: true, expect: planId }));
      expect(hasCode(err, 'IO_ERROR'), err.message).to.equal(true);
      expect(err.message).to.include('restored (vm2)');
    } finally {
      execFileSync('chattr', ['-i', locked]);
    }
    expect(await moduleFiles(dirA)).to.deep.equal(before);
  });

  it('--apply --local-only on each host: identical module files, each host on the same disk files, then nothing left to move', async () => {
    const paths = [await localPaths(dirA), await localPaths(dirB)];
    for (const dir of [dirA, dirB]) {
      const doc = BalanceDocument.parse((await runBalance({ dir, apply: true, localOnly: true, expect: planId })).json);
      expect(doc).to.include({ Applied: true, PlanId: planId });
      expect(doc.RewrittenHosts).to.have.length(1);
    }
    expect(await moduleFiles(dirA)).to.deep.equal(await moduleFiles(dirB));
    // loadConfig validates every file; the copies each host reads and writes did not change.
    expect([await localPaths(dirA), await localPaths(dirB)]).to.deep.equal(paths);
    const vm3 = JSON.parse(await readFile(join(dirA, 'modules', 'vm3.json'), 'utf8')) as { DefaultPrimary: string; Disks: Array<{ Path: string; ReplicaPath: string }> };
    const copies = lab.Modules.find((m) => m.Name === 'vm3')!.Copies;
    expect(vm3.DefaultPrimary).to.equal('hvb');
    expect(vm3.Disks[0]).to.include({ Path: copies.find((c) => c.Host === 'hvb')!.Path, ReplicaPath: copies.find((c) => c.Host === 'hva')!.Path });
    for (const dir of [dirA, dirB]) {
      const again = BalanceDocument.parse((await runBalance({ dir })).json);
      expect(again.Moves).to.deep.equal([]);
      expect(again.Hosts.map((h) => h.CurrentLoad)).to.deep.equal([11, 12.5]);
    }
  });
});
