import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type PeerModuleFiles, applyRewrites } from '../../src/balance/apply';
import { createBalancePeerSide } from '../../src/balance/peer-side';
import { runBalance, BalanceDocument } from '../../src/cli/commands/balance';
import { loadConfig } from '../../src/config';
import { hasCode } from '../../src/errors';
import { createSimulatedHost, createSimulatedVm } from '../../src/hypervisor/simulated';
import { makeConfig, moduleBody, type ConfigFixture } from '../config/fixture';
import { tempDir } from '../helpers/tmp';

// Module files that balancing must not move (their disk copies cannot swap), the VM-derived load
// and its absence, and the apply order with a peer (the seam a peer route will fill: a fake here).

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('vmmirror balance: movability, loads and the apply order', () => {
  let f: ConfigFixture;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    const t = await tempDir('vmmirror-balance-rw-');
    cleanup = t.cleanup;
    f = await makeConfig(t.dir);
    await f.writeModule('web1.json', { ...moduleBody('web1'), Weight: 6 });
  });
  afterEach(() => cleanup());

  it('keeps modules whose copies cannot swap where they are, and says why', async () => {
    // DataDirectory is relative ("data"): the default ReplicaPath means another file on each host.
    await f.writeModule('web2.json', { ...moduleBody('web2'), Weight: 5 });
    await f.writeModule('web3.json', { ...moduleBody('web3'), Disks: [{ Path: '/vms/web3/a.vhdx', ReplicaPath: '/rep/web3/b.vhdx' }], Weight: 4 });
    await f.writeModule('web4.json', { ...moduleBody('web4'), Disks: [{ Path: '/vms/web4/d.vhdx', ReplicaPath: '/rep/web4/d.vhdx' }], Weight: 3 });
    const doc = BalanceDocument.parse((await runBalance({ dir: f.dir })).json);
    const by = new Map(doc.Modules.map((m) => [m.Name, m]));
    expect(by.get('web1')?.ImmovableReason).to.match(/default, under a relative DataDirectory/);
    expect(by.get('web3')?.ImmovableReason).to.match(/file names differ \(a\.vhdx, b\.vhdx\)/);
    expect(by.get('web4')).to.include({ Movable: true, ProposedPrimary: 'hv2' });
    expect(doc.Moves).to.deep.equal([{ Module: 'web4', From: 'hv1', To: 'hv2' }]);
    // A pin the module cannot honour is a contradiction, not a silent stay.
    await f.writeModule('web1.json', { ...moduleBody('web1'), Weight: 6, Pin: 'hv2' });
    const err = await rejection(runBalance({ dir: f.dir }));
    expect(hasCode(err, 'BALANCE_INFEASIBLE'), err.message).to.equal(true);
    expect(err.message).to.match(/web1 is pinned to hv2 but cannot move from hv1/);
  });

  it('weighs a module without Weight by its VM, and names the modules whose VM is not here', async () => {
    const sim = join(f.dir, 'data', 'simulated');
    await createSimulatedHost(sim, { name: 'hv1' });
    await createSimulatedVm(sim, { name: 'APP1', memoryBytes: 6 * 2 ** 30, processorCount: 3, disks: [] });
    await f.writeModule('app1.json', { ...moduleBody('app1'), Disks: 'auto' });
    const doc = BalanceDocument.parse((await runBalance({ dir: f.dir })).json);
    expect(doc.Modules.find((m) => m.Name === 'app1')).to.include({ Load: 9, LoadSource: 'Vm', MemoryBytes: 6 * 2 ** 30, ProcessorCount: 3 });
    await f.writeModule('ghost.json', { ...moduleBody('ghost'), Disks: 'auto' });
    await f.writeModule('spook.json', { ...moduleBody('spook'), Disks: 'auto' });
    const err = await rejection(runBalance({ dir: f.dir }));
    expect(hasCode(err, 'BALANCE_LOAD_UNKNOWN'), err.message).to.equal(true);
    expect(err.message).to.include('ghost, spook').and.include('modules/ghost.json');
  });

  it('rewrites the peer first: a peer failure leaves this host untouched; a local failure asks the peer to undo', async () => {
    const config = await loadConfig(f.dir);
    const path = join(config.modulesDir, 'web1.json');
    const before = await readFile(path, 'utf8');
    const calls: string[] = [];
    const peer = (fail: 'apply' | 'none'): PeerModuleFiles => ({
      host: 'hv2',
      apply: async (id) => {
        calls.push(`apply ${id}`);
        if (fail === 'apply') throw new Error('link down');
      },
      undo: async (id) => void calls.push(`undo ${id}`),
    });
    const rewrites = [{ module: 'web1', path, before, after: before.replace('"hv1"', '"hv2"') }];
    const moves = [{ module: 'web1', from: 'hv1', to: 'hv2' }];
    const down = await rejection(applyRewrites({ planId: 'p1', moves, rewrites, self: 'hv1', peer: peer('apply') }));
    expect(hasCode(down, 'BALANCE_PEER_UNAVAILABLE'), down.message).to.equal(true);
    expect(await readFile(path, 'utf8')).to.equal(before);
    // After the peer applied, a local rewrite that really fails (an immutable file): the one
    // rewritten before it is put back and the peer is asked to undo.
    const path2 = join(config.modulesDir, 'web2.json');
    await f.writeModule('web2.json', { ...moduleBody('web2'), Weight: 1 });
    const before2 = await readFile(path2, 'utf8');
    const both = [...rewrites, { module: 'web2', path: path2, before: before2, after: before2.replace('"hv1"', '"hv2"') }];
    execFileSync('chattr', ['+i', path2]);
    let local: Error;
    try {
      local = await rejection(applyRewrites({ planId: 'p2', moves, rewrites: both, self: 'hv1', peer: peer('none') }));
    } finally {
      execFileSync('chattr', ['-i', path2]);
    }
    expect(hasCode(local, 'IO_ERROR'), local.message).to.equal(true);
    expect(local.message).to.include('restored (web1)').and.include("hv2's files were restored too");
    expect(calls).to.deep.equal(['apply p1', 'apply p2', 'undo p2']);
    expect([await readFile(path, 'utf8'), await readFile(path2, 'utf8')]).to.deep.equal([before, before2]);
    // The peer's own side refuses an undo it holds no rewrite for (rather than claim it restored).
    const side = createBalancePeerSide(config, () => { throw new Error('every module has a Weight'); });
    const noRecord = await rejection(side.answer({ planId: '0123456789abcdef', undo: true }));
    expect(hasCode(noRecord, 'BALANCE_PLAN_CHANGED'), noRecord.message).to.equal(true);
  });
});
