import { expect } from 'chai';
import { OperatorSwitchover } from '../../../src/agent/cluster/operator-switchover';
import { ClusterRuntime } from '../../../src/agent/cluster/runtime';
import type { Switchover, SwitchoverFigures } from '../../../src/agent/cluster/switchover';
import { initialSnapshot, type Effect } from '../../../src/cluster';
import type { LoadedConfig } from '../../../src/config';
import { VmmirrorError } from '../../../src/errors';
import type { Hypervisor, Readiness } from '../../../src/hypervisor/types';
import { componentLogger } from '../../../src/log';
import type { PeerConnection } from '../../../src/peer';
import { BASE_SETTINGS } from '../../cluster/scenario-runner';
import { tempDir } from '../../helpers/tmp';

// The operator's switchover on the host that would run the VM, over the real runtime and step():
// how a module or VM name is matched, where a move goes, the checks, the refusals (nothing asked
// of the machine), and an accepted move (the machine emits the failback effect; the outcome is
// what the switchover reports). The peer link and the hypervisor are fakes.

const log = componentLogger('test');
type Check = { Name: string; Passed: boolean };

async function refusal(p: Promise<unknown>): Promise<VmmirrorError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof VmmirrorError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

async function world(o: { peerState?: 'PRIM' | 'ALONE'; heard?: boolean; readiness?: Readiness; registered?: boolean; stored?: boolean } = {}) {
  const t = await tempDir('vmmirror-opsw-');
  const clock = { now: 1000 };
  const effects: Effect[] = [];
  const modules = [
    { name: 'web', vmName: 'WEB', defaultPrimary: 'b', policies: { stopTimeoutSeconds: 60, startTimeoutSeconds: 60 } },
    { name: 'db1', vmName: 'DB', defaultPrimary: 'a', policies: { stopTimeoutSeconds: 60, startTimeoutSeconds: 60 } },
    { name: 'db2', vmName: 'DB', defaultPrimary: 'a', policies: { stopTimeoutSeconds: 60, startTimeoutSeconds: 60 } },
  ];
  const config = { self: { Name: 'a' }, peer: { Name: 'b' }, modules, dataDir: t.dir, agent: { CycleTimeoutSeconds: 60 } } as unknown as LoadedConfig;
  const snap = initialSnapshot({
    self: 'a',
    peerName: 'b',
    settings: BASE_SETTINGS,
    now: clock.now,
    modules: modules.map((m) => ({ name: m.name, defaultPrimary: m.defaultPrimary, failback: 'manual' as const, fenceMode: 'TurnOff' as const })),
    // db2 is this host's (it ran it last): a move of it goes to the peer, which would drive it.
    records: Object.fromEntries(modules.map((m) => [m.name, { Version: 1 as const, Module: m.name, State: m.name === 'db2' ? ('PRIM' as const) : ('SECOND' as const), WaitReason: null, Epoch: 3, Owner: m.name === 'db2' ? 'a' : 'b', Generation: 9 }])),
    vms: {},
  });
  const rt = new ClusterRuntime(snap, { effects: (e) => effects.push(...e), changed: () => undefined }, log, () => clock.now);
  if (o.heard !== false) {
    const view = { state: o.peerState ?? 'PRIM', epoch: 3, owner: 'b', generation: 9, vm: 'running' as const };
    rt.dispatch({ type: 'peer-heartbeat', path: 'primary', modules: { web: view, db1: view }, answer: { askedAt: clock.now - 5, grantedMs: 5000 } });
  }
  let settle: ((f: SwitchoverFigures) => void) | undefined;
  const switchover = {
    failbacks: new Map<string, SwitchoverFigures>(),
    awaitOutcome: () => ({ outcome: new Promise<SwitchoverFigures>((resolve) => (settle = resolve)), cancel: () => undefined }),
  } as unknown as Switchover;
  const vm = { id: 'x', memoryBytes: 1024 };
  const judged: string[] = [];
  const vmIdOf = async () => {
    if (o.registered === false) throw new VmmirrorError('VM_NOT_FOUND', 'no VM of the module here');
    return 'x';
  };
  const storedConfig = async () => (o.stored === true ? { configDir: '/stored/export' } : null);
  const control = {
    getVm: async () => vm,
    exportConfig: async () => ({ vmId: 'x', configDir: '', files: [] }),
    checkReadiness: async (configDir: string) => (judged.push(configDir), o.readiness ?? { canStart: true, issues: [], freeMemoryBytes: 4096 }),
  } as unknown as Hypervisor;
  const asked: unknown[] = [];
  const connection = async () => ({ request: async (_def: unknown, body: unknown) => (asked.push(body), { checks: [], figures: null }) }) as unknown as PeerConnection;
  const op = new OperatorSwitchover({ config, rt, switchover, control, vmIdOf, storedConfig, connection, log });
  return { op, rt, effects, asked, judged, settle: (f: SwitchoverFigures) => settle!(f), cleanup: async () => (rt.stop(), t.cleanup()) };
}

describe('src/agent/cluster/operator-switchover (vmmirror failover / failback on the host that runs the VM next)', () => {
  it('matches a module by name, else its VM by exact name (data, never a pattern); a VM name of two modules is a usage error', async () => {
    const w = await world();
    try {
      expect(w.op.resolve('web').name).to.equal('web');
      expect(w.op.resolve('WEB').name).to.equal('web');
      expect((await refusal(Promise.resolve().then(() => w.op.resolve('DB')))).code).to.equal('USAGE');
      for (const name of ['we*', 'web ', "web'; Remove-Item -Recurse C:\\ ; '", '']) expect((await refusal(Promise.resolve().then(() => w.op.resolve(name)))).code, JSON.stringify(name)).to.equal('MODULE_NOT_FOUND');
    } finally {
      await w.cleanup();
    }
  });

  it('refuses a --to that is not a host (USAGE), a --to it cannot move to, and a failback of a module at home; nothing is asked of the machine', async () => {
    const w = await world();
    try {
      expect((await refusal(w.op.run('web', { action: 'failover', to: 'c', whatIf: false }))).code).to.equal('USAGE');
      const wrong = await refusal(w.op.run('web', { action: 'failover', to: 'b', whatIf: false }));
      expect([wrong.code, wrong.message]).to.satisfy(([c, m]: string[]) => c === 'SWITCHOVER_REFUSED' && /can only move to a/.test(m!));
      expect((await refusal(w.op.run('web', { action: 'failback', whatIf: false }))).message).to.match(/already runs on its default primary b/);
      expect(w.effects.filter((e) => e.type === 'failback')).to.deep.equal([]);
    } finally {
      await w.cleanup();
    }
  });

  it('--what-if: every check and its result, nothing moves; the same checks refuse the move when the owner is ALONE (not in sync)', async () => {
    const w = await world({ peerState: 'ALONE' });
    try {
      const plan = await w.op.run('db1', { action: 'failback', whatIf: true });
      expect({ from: plan.from, to: plan.to, figures: plan.figures }).to.deep.equal({ from: 'b', to: 'a', figures: null });
      expect(plan.checks.map((c) => [c.name, c.passed])).to.deep.equal([['peer-heard', true], ['quorum', true], ['runs-on-peer', true], ['replica-here', true], ['in-sync', false], ['readiness', true]]);
      const e = await refusal(w.op.run('db1', { action: 'failback', whatIf: false }));
      expect(e.code).to.equal('SWITCHOVER_REFUSED');
      expect((e.details.Checks as Check[]).filter((c) => !c.Passed).map((c) => c.Name)).to.deep.equal(['in-sync']);
      expect(w.effects.filter((e2) => e2.type === 'failback')).to.deep.equal([]);
    } finally {
      await w.cleanup();
    }
  });

  it('refuses when the hypervisor says the replica VM cannot start here (readiness), naming the issue', async () => {
    const w = await world({ readiness: { canStart: false, issues: [{ kind: 'MissingSwitch', message: "Could not find Ethernet switch 'LAN'." }], freeMemoryBytes: 0 } });
    try {
      const e = await refusal(w.op.run('web', { action: 'failover', whatIf: false }));
      expect(e.code).to.equal('SWITCHOVER_REFUSED');
      expect(e.message).to.match(/readiness: MissingSwitch/);
    } finally {
      await w.cleanup();
    }
  });

  it('a replica VM not registered yet (registered from the peer\'s export at its start): the stored export is judged; with none stored, refused', async () => {
    const w = await world({ registered: false, stored: true });
    try {
      const plan = await w.op.run('web', { action: 'failover', whatIf: true });
      const readiness = plan.checks.find((c) => c.name === 'readiness')!;
      expect({ passed: readiness.passed, judged: w.judged }).to.deep.equal({ passed: true, judged: ['/stored/export'] });
      expect(readiness.detail).to.match(/registered at the start/);
    } finally {
      await w.cleanup();
    }
    const none = await world({ registered: false, stored: false });
    try {
      const e = await refusal(none.op.run('web', { action: 'failover', whatIf: false }));
      expect(e.message).to.match(/readiness: no replica VM of web is registered on a, and no configuration exported by the peer is stored here/);
    } finally {
      await none.cleanup();
    }
  });

  it('with the peer silent, a move this host would drive is refused on peer-heard; one the peer would drive is refused without asking it', async () => {
    const w = await world({ heard: false });
    try {
      const here = await refusal(w.op.run('db1', { action: 'failback', whatIf: false }));
      expect((here.details.Checks as Check[]).find((c) => c.Name === 'peer-heard')?.Passed).to.equal(false);
      const there = await refusal(w.op.run('db2', { action: 'failover', whatIf: false }));
      expect({ code: there.code, checks: there.details.Checks }).to.deep.equal({ code: 'SWITCHOVER_REFUSED', checks: [{ Name: 'peer-heard', Passed: false, Detail: 'b has not been heard within 5000 ms' }] });
      const plan = await w.op.run('db2', { action: 'failover', whatIf: true });
      expect({ from: plan.from, to: plan.to, checks: plan.checks.map((c) => c.name), figures: plan.figures }).to.deep.equal({ from: 'a', to: 'b', checks: ['peer-heard'], figures: null });
      expect(w.asked, 'the peer was never asked').to.deep.equal([]);
    } finally {
      await w.cleanup();
    }
  });

  it('an accepted move: the machine emits the failback effect at the module\'s epoch in the same step; the answer carries the figures', async () => {
    const w = await world();
    try {
      const run = w.op.run('WEB', { action: 'failover', to: 'a', whatIf: false });
      const deadline = Date.now() + 5000;
      while (!w.effects.some((e) => e.type === 'failback')) {
        if (Date.now() > deadline) throw new Error('no failback effect');
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(w.effects.filter((e) => e.type === 'failback')).to.deep.equal([{ type: 'failback', module: 'web', epoch: 3 }]);
      expect(w.rt.snapshot.modules.web!.failbackAsked).to.equal(true);
      w.settle({ module: 'web', from: 'b', to: 'a', epoch: 4, fromGeneration: 9, generation: 11, stopMs: 10, syncMs: 20, startMs: 30, downtimeMs: 60, finalBytes: 4096, at: new Date('2026-12-01T10:00:00Z') });
      const out = await run;
      expect({ from: out.from, to: out.to, epoch: out.epoch, figures: out.figures }).to.deep.equal({
        from: 'b', to: 'a', epoch: 3,
        figures: { epoch: 4, fromGeneration: 9, toGeneration: 11, finalBytes: 4096, stopMs: 10, syncMs: 20, startMs: 30, downtimeMs: 60, finishedAt: '2026-12-01T10:00:00.000Z' },
      });
    } finally {
      await w.cleanup();
    }
  });
});
