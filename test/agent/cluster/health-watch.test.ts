import { expect } from 'chai';
import { HealthWatch } from '../../../src/agent/cluster/health-watch';
import type { HealthRecord } from '../../../src/agent/cluster/health-store';
import { ClusterRuntime } from '../../../src/agent/cluster/runtime';
import type { StatusDocument } from '../../../src/agent/control/documents';
import { initialSnapshot } from '../../../src/cluster';
import type { LoadedConfig } from '../../../src/config';
import type { Hypervisor, VmInfo } from '../../../src/hypervisor/types';
import { componentLogger } from '../../../src/log';
import { BASE_SETTINGS } from '../../cluster/scenario-runner';

// The agent's health watch over the real runtime and step(), the hypervisor a fake that records
// what is done to the VM: a restart is TurnOff then Start; a VM stopped by hand is never
// restarted; a host that lost quorum between the TurnOff and the Start does not start it (C1);
// the peer's counts are taken only from the owner at the epoch this host knows.

const log = componentLogger('test');
const health = { heartbeatLossSeconds: 10, maxRestart: 1, maxRelocate: 1, healthyResetSeconds: 3600 };

function world(o: { self?: 'a' | 'b'; records?: Map<string, HealthRecord> } = {}) {
  const self = o.self ?? 'a';
  const peer = self === 'a' ? 'b' : 'a';
  const clock = { now: 1000 };
  const modules = [{ name: 'web', vmName: 'WEB', defaultPrimary: 'a', policies: { stopTimeoutSeconds: 60, startTimeoutSeconds: 60, health } }];
  const config = { self: { Name: self }, peer: { Name: peer }, modules, agent: { CycleTimeoutSeconds: 60 } } as unknown as LoadedConfig;
  const snap = initialSnapshot({
    self, peerName: peer, settings: BASE_SETTINGS, now: clock.now,
    modules: [{ name: 'web', defaultPrimary: 'a', failback: 'manual' as const, fenceMode: 'TurnOff' as const }],
    records: { web: { Version: 1 as const, Module: 'web', State: self === 'a' ? ('PRIM' as const) : ('SECOND' as const), WaitReason: null, Epoch: 3, Owner: 'a', Generation: 9 } },
    vms: { web: self === 'a' ? 'running' : 'off' },
  });
  const rt = new ClusterRuntime(snap, { effects: () => undefined, changed: () => undefined }, log, () => clock.now);
  const heard = (): void => {
    const view = self === 'a' ? { state: 'SECOND' as const, epoch: 3, owner: 'a', generation: 9, vm: 'off' as const } : { state: 'PRIM' as const, epoch: 3, owner: 'a', generation: 9, vm: 'running' as const };
    rt.dispatch({ type: 'peer-heartbeat', path: 'primary', modules: { web: view }, answer: { askedAt: clock.now - 5, grantedMs: 5000 } });
  };
  heard();
  const vm: VmInfo = { id: 'x', name: 'WEB', state: self === 'a' ? 'Running' : 'Off', heartbeat: self === 'a' ? 'OkApplicationsHealthy' : null } as VmInfo;
  const calls: string[] = [];
  const persisted = new Map<string, HealthRecord>();
  const hooks = { duringStop: (): void => undefined };
  const control = {
    getVm: async () => ({ ...vm }),
    stopVm: async (_id: string, mode: string) => (calls.push(`stop ${mode}`), hooks.duringStop(), Object.assign(vm, { state: 'Off', heartbeat: null })),
    startVm: async () => (calls.push('start'), Object.assign(vm, { state: 'Running', heartbeat: 'OkApplicationsHealthy' })),
  } as unknown as Hypervisor;
  const w = new HealthWatch({
    config, rt, control, log, vmIdOf: async () => 'x', beforeStart: async () => void calls.push('guard'), effectsBusy: () => false,
    carry: async () => undefined, relocate: async () => void calls.push('relocate'), now: () => clock.now,
    records: o.records, persist: async (r) => void persisted.set(r.Module, r),
  });
  /** `seconds` of polls, one a second, the peer heard each time (the lease renewed) unless `silent`. */
  const poll = async (seconds: number, silent = false): Promise<void> => {
    for (let i = 0; i < seconds; i++) {
      clock.now += 1000;
      if (!silent) heard();
      w.observe(modules[0] as never, { ...vm });
      for (let k = 0; k < 5; k++) await Promise.resolve(); // let an action's awaits run
      await new Promise((r) => setImmediate(r));
    }
  };
  const status = (): NonNullable<StatusDocument['Modules'][0]['Health']> => w.withHealth({ Modules: [{ Name: 'web' }] } as unknown as StatusDocument).Modules[0]!.Health!;
  return { rt, vm, calls, persisted, hooks, clock, w, poll, heard, status, cleanup: () => rt.stop() };
}

describe('src/agent/cluster/health-watch (VM health on the agent)', () => {
  it('a guest silent for HeartbeatLossSeconds is restarted here: TurnOff, the guard told, Start; status says restart and why', async () => {
    const x = world();
    try {
      await x.poll(2);
      expect(x.status().Summary).to.equal('health: ok');
      x.vm.heartbeat = 'LostCommunication';
      await x.poll(9);
      expect(x.calls).to.deep.equal([]);
      expect(x.status().LostForMs).to.be.greaterThan(0);
      await x.poll(2);
      expect(x.calls).to.deep.equal(['stop TurnOff', 'guard', 'start']);
      const h = x.status();
      expect({ restarts: h.Restarts, action: h.LastAction, relocations: h.Relocations }).to.deep.equal({ restarts: 1, action: 'restart', relocations: 0 });
      expect(h.LastReason).to.match(/heartbeat lost for 10 s \(limit 10 s\)/);
    } finally {
      x.cleanup();
    }
  });

  it('the counts outlive an agent restart (health-store records): a restarted agent moves the VM at the next loss, not restart it again', async () => {
    const x = world();
    let records: Map<string, HealthRecord>;
    try {
      await x.poll(2);
      x.vm.heartbeat = 'LostCommunication';
      await x.poll(11);
      expect(x.calls).to.deep.equal(['stop TurnOff', 'guard', 'start']);
      await x.w.flushed();
      records = new Map(x.persisted);
      expect(records.get('web')).to.include({ Epoch: 3, Restarts: 1, Relocations: 0, LastAction: 'restart' });
    } finally {
      x.cleanup();
    }
    const y = world({ records });
    try {
      expect(y.status()).to.include({ Restarts: 1, LastAction: 'restart' });
      await y.poll(2);
      y.vm.heartbeat = 'LostCommunication';
      await y.poll(11);
      expect(y.calls).to.deep.equal(['relocate']);
    } finally {
      y.cleanup();
    }
  });

  it('a VM stopped by hand is never restarted (it does not run: not judged)', async () => {
    const x = world();
    try {
      await x.poll(2);
      Object.assign(x.vm, { state: 'Off', heartbeat: null });
      await x.poll(30);
      expect(x.calls).to.deep.equal([]);
      expect(x.status().Summary).to.equal('health: the VM does not run here');
    } finally {
      x.cleanup();
    }
  });

  it('a host that lost quorum between the TurnOff and the Start does not start the VM again (C1); nothing is done while it lacks quorum', async () => {
    const x = world();
    try {
      await x.poll(2);
      x.vm.heartbeat = 'LostCommunication';
      // The peer falls silent during the TurnOff, long enough for the lease to lapse.
      x.hooks.duringStop = () => void (x.clock.now += 20_000);
      await x.poll(11);
      expect(x.calls).to.deep.equal(['stop TurnOff']);
      const y = world();
      try {
        await y.poll(2);
        y.vm.heartbeat = 'LostCommunication';
        await y.poll(30, true);
        expect(y.calls, 'silent peer: held').to.deep.equal([]);
        expect(y.status().Summary).to.match(/held: this host lacks quorum or its peer/);
      } finally {
        y.cleanup();
      }
    } finally {
      x.cleanup();
    }
  });

  it("takes the peer's counts only from the owner at the epoch it knows", () => {
    const x = world({ self: 'b' });
    try {
      expect(x.w.accept({ module: 'web', epoch: 2, relocations: 1, reason: 'r' })).to.deep.equal({ accepted: false });
      expect(x.w.accept({ module: 'nope', epoch: 3, relocations: 1, reason: 'r' })).to.deep.equal({ accepted: false });
      expect(x.w.accept({ module: 'web', epoch: 3, relocations: 1, reason: 'r' })).to.deep.equal({ accepted: true });
    } finally {
      x.cleanup();
    }
    const owner = world();
    try {
      expect(owner.w.accept({ module: 'web', epoch: 3, relocations: 1, reason: 'r' }), 'the owner itself: not from the owner').to.deep.equal({ accepted: false });
    } finally {
      owner.cleanup();
    }
  });
});
