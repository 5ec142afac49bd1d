import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startAgent, type RunningAgent } from '../../src/agent/agent';
import { callAgent } from '../../src/agent/control/client';
import { controlEndpoint } from '../../src/agent/control/endpoint';
import { BalanceDocument, runBalance } from '../../src/cli/commands/balance';
import { loadConfig } from '../../src/config';
import { hasCode } from '../../src/errors';
import { createLab } from '../../src/lab/create';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';

// `vmmirror balance --apply` with both agents running (in this process, on a lab's two config
// folders; no witness, so no VM starts): the peer's files are rewritten over the peer link first,
// a peer whose own plan differs refuses and nothing changes anywhere, a local failure after the
// peer rewrote puts both hosts back, and a success leaves the two hosts' files identical.

async function moduleFiles(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const n of (await readdir(join(dir, 'modules'))).sort()) out.set(n, await readFile(join(dir, 'modules', n), 'utf8'));
  return out;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

async function setFields(path: string, fields: object): Promise<void> {
  await writeFile(path, `${JSON.stringify({ ...JSON.parse(await readFile(path, 'utf8')), ...fields }, null, 2)}\n`);
}

describe('vmmirror balance --apply through the agents', function () {
  this.timeout(120_000);
  const rnd = seeded('balance apply peer');
  let cleanup: () => Promise<void>;
  let dirA: string;
  let dirB: string;
  const agents: RunningAgent[] = [];

  before(async () => {
    process.stderr.write(`      lab seed ${rnd.seed}\n`);
    const t = await tempDir('vmmirror-balance-peer-');
    cleanup = t.cleanup;
    const lab = await createLab({ dir: join(t.dir, 'lab'), vms: 4, diskMiB: 4, seed: rnd.seed, writesPerSecond: 0 });
    [dirA, dirB] = lab.Hosts.map((h) => h.ConfigDirectory);
    for (const dir of [dirA, dirB]) {
      await setFields(join(dir, 'modules', 'vm1.json'), { Weight: 10 });
      await setFields(join(dir, 'modules', 'vm2.json'), { Weight: 1 });
      await setFields(join(dir, 'modules', 'vm3.json'), { Weight: 10 });
      await setFields(join(dir, 'modules', 'vm4.json'), { Weight: 2 });
    }
    for (const dir of [dirA, dirB]) agents.push(await startAgent(await loadConfig(dir)));
    // The peer link is up once hva's status hears hvb (a real state, polled with a deadline).
    const endpoint = await controlEndpoint(dirA);
    const until = Date.now() + 60_000;
    for (;;) {
      const s = (await callAgent(endpoint, 'GET', '/v1/status')) as { Hosts: Array<{ Self: boolean; Reachable: boolean }> };
      if (s.Hosts.some((h) => !h.Self && h.Reachable)) break;
      if (Date.now() > until) throw new Error('the two agents never connected');
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  after(async () => {
    await Promise.all(agents.map((a) => a.stop(2000)));
    await cleanup?.();
  });

  it('refuses when the peer\'s own plan differs: nothing changes on either host', async () => {
    // Loads that change the moves (a difference that leaves the moves alone writes the same files).
    await setFields(join(dirB, 'modules', 'vm4.json'), { Weight: 30 });
    const before = [await moduleFiles(dirA), await moduleFiles(dirB)];
    const err = await rejection(runBalance({ dir: dirA, apply: true }));
    expect(hasCode(err, 'BALANCE_PEER_UNAVAILABLE'), err.message).to.equal(true);
    expect(err.message).to.include('BALANCE_PLAN_CHANGED').and.include("hvb's own plan is");
    expect([await moduleFiles(dirA), await moduleFiles(dirB)]).to.deep.equal(before);
    await setFields(join(dirB, 'modules', 'vm4.json'), { Weight: 2 });
  });

  it('puts both hosts back when a local rewrite really fails after the peer rewrote (an immutable file)', async () => {
    const before = [await moduleFiles(dirA), await moduleFiles(dirB)];
    const locked = join(dirA, 'modules', 'vm3.json');
    execFileSync('chattr', ['+i', locked]);
    let err: Error;
    try {
      err = await rejection(runBalance({ dir: dirA, apply: true }));
    } finally {
      execFileSync('chattr', ['-i', locked]);
    }
    expect(hasCode(err, 'IO_ERROR'), err.message).to.equal(true);
    expect(err.message).to.include("hvb's files were restored too");
    expect([await moduleFiles(dirA), await moduleFiles(dirB)]).to.deep.equal(before);
  });

  it('rewrites the peer, then this host: identical files, and nothing left to move on either', async () => {
    const doc = BalanceDocument.parse((await runBalance({ dir: dirA, apply: true })).json);
    expect(doc.Moves).to.deep.equal([{ Module: 'vm2', From: 'hvb', To: 'hva' }, { Module: 'vm3', From: 'hva', To: 'hvb' }]);
    expect(doc.RewrittenHosts).to.deep.equal(['hvb', 'hva']);
    expect(await moduleFiles(dirA)).to.deep.equal(await moduleFiles(dirB));
    for (const dir of [dirA, dirB]) expect(BalanceDocument.parse((await runBalance({ dir })).json).Moves).to.deep.equal([]);
  });
});
