import { expect } from 'chai';
import { EffectRunner, type EffectDeps } from '../../src/agent/cluster/effects';
import type { RuntimeEvent } from '../../src/agent/cluster/runtime';
import type { LoadedConfig, ResolvedModule } from '../../src/config';
import { HypervisorError } from '../../src/errors';
import type { Hypervisor, VmInfo, VmState } from '../../src/hypervisor/types';
import { componentLogger } from '../../src/log';

// The start path of the effect runner (takeover): an unregistered VM is registered through the
// dependency (or VM_NOT_REGISTERED without one), and MACs are pinned the way Hyper-V allows:
// while Off before the start, and refused (VM_WRONG_STATE) while running, which must not fail it.

const log = componentLogger('test');
const mod = {
  name: 'web1', file: 'modules/web1.json', vmName: 'WEB1', disks: 'auto', defaultPrimary: 'hva',
  replication: { interval: 30, compression: 'none', blockSize: 65536 },
  policies: { failback: 'auto', stopMode: 'Shutdown', stopTimeoutSeconds: 1, startTimeoutSeconds: 1 }, hooks: {},
} as unknown as ResolvedModule;

interface FakeVm {
  registered: boolean;
  state: VmState;
  mac: string;
  dynamic: boolean;
  /** The MAC a first start assigns (Hyper-V: a never-started VM reports zeros). */
  assignOnStart?: string;
}

/** A Hyper-V-like control lane: setStaticMac only while Off, as Set-MirrorStaticMac.ps1 enforces. */
function hyperVLike(vm: FakeVm, calls: string[]): Hypervisor {
  const info = (): VmInfo => ({
    id: 'vm-1', name: 'WEB1', state: vm.state, heartbeat: null, memoryBytes: 1, processorCount: 1, configurationVersion: '9.0', generation: 2, disks: [],
    networkAdapters: [{ name: 'Network Adapter', macAddress: vm.mac, dynamicMac: vm.dynamic, switchName: 'LAN' }],
  });
  return {
    getVm: async () => (vm.registered ? info() : null),
    startVm: async () => {
      calls.push('startVm');
      vm.state = 'Running';
      if (vm.assignOnStart !== undefined && vm.mac === '000000000000') vm.mac = vm.assignOnStart;
      return info();
    },
    setStaticMac: async () => {
      if (vm.state !== 'Off') {
        calls.push('setStaticMac:refused');
        throw new HypervisorError('VM_WRONG_STATE', 'a MAC address can only be changed while it is Off');
      }
      calls.push(`setStaticMac:${vm.mac}`);
      vm.dynamic = false;
      return info();
    },
  } as unknown as Hypervisor;
}

function runner(vm: FakeVm, calls: string[], events: RuntimeEvent[], register?: EffectDeps['registerReplica']): EffectRunner {
  return new EffectRunner({
    config: { modules: [mod], self: { Name: 'hvb' } } as unknown as LoadedConfig,
    control: hyperVLike(vm, calls),
    witness: null,
    recordsDir: '/nonexistent',
    log,
    dispatch: (e) => events.push(e),
    vmIdOf: async () => {
      if (!vm.registered) throw new HypervisorError('VM_NOT_FOUND', 'module web1: no VM with id vm-1');
      return 'vm-1';
    },
    releaseReplica: async () => ({ generation: 4 }),
    beforeStart: async () => void calls.push('guard'),
    resync: async () => ({ generation: 1 }),
    failback: async () => ({ epoch: 2, generation: 1 }),
    ...(register !== undefined ? { registerReplica: register } : {}),
    afterStart: (m) => calls.push(`afterStart:${m}`),
  });
}

const outcome = (events: RuntimeEvent[]): string[] => events.map((e) => `${e.type}:${(e as { effect?: string }).effect}${(e as { code?: string }).code !== undefined ? `:${(e as { code?: string }).code}` : ''}`);

describe('src/agent/cluster/effects: the takeover start path (registration, static MAC)', () => {
  it('without a registration dependency an unregistered replica VM is VM_NOT_REGISTERED, and nothing starts', async () => {
    const calls: string[] = [];
    const events: RuntimeEvent[] = [];
    const r = runner({ registered: false, state: 'Off', mac: '00155D000001', dynamic: true }, calls, events);
    r.enqueue([{ type: 'promote-replica', module: 'web1' }]);
    await r.drain('web1');
    expect(outcome(events)).to.deep.equal(['effect-failed:promote-replica:VM_NOT_REGISTERED']);
    expect(calls).to.deep.equal([]);
  });

  it('registers the VM through the dependency at promote, then pins its (exported, dynamic) MAC while Off and starts it', async () => {
    const calls: string[] = [];
    const events: RuntimeEvent[] = [];
    const vm: FakeVm = { registered: false, state: 'Off', mac: '00155D0A0B0C', dynamic: true };
    const r = runner(vm, calls, events, async () => {
      calls.push('register');
      vm.registered = true;
      return 'vm-1';
    });
    r.enqueue([{ type: 'promote-replica', module: 'web1' }, { type: 'start-vm', module: 'web1' }]);
    await r.drain('web1');
    expect(outcome(events)).to.deep.equal(['effect-done:promote-replica', 'effect-done:start-vm']);
    expect(calls).to.deep.equal(['register', 'guard', 'setStaticMac:00155D0A0B0C', 'startVm', 'afterStart:web1']);
    expect(vm.dynamic).to.equal(false);
  });

  it('a never-started VM (all-zero MAC) is not pinned before its start; after it the refusal while running does not fail the start', async () => {
    const calls: string[] = [];
    const events: RuntimeEvent[] = [];
    const vm: FakeVm = { registered: true, state: 'Off', mac: '000000000000', dynamic: true, assignOnStart: '00155D0D0E0F' };
    const r = runner(vm, calls, events);
    r.enqueue([{ type: 'start-vm', module: 'web1' }]);
    await r.drain('web1');
    expect(outcome(events)).to.deep.equal(['effect-done:start-vm']);
    expect(calls).to.deep.equal(['guard', 'startVm', 'setStaticMac:refused', 'afterStart:web1']);
    // The next start (Off again, the MAC assigned by the first) pins it first.
    vm.state = 'Off';
    calls.length = 0;
    r.enqueue([{ type: 'start-vm', module: 'web1' }]);
    await r.drain('web1');
    expect(calls).to.deep.equal(['guard', 'setStaticMac:00155D0D0E0F', 'startVm', 'afterStart:web1']);
  });

  it('a registration that fails (VM_INCOMPATIBLE) fails the promote with that code', async () => {
    const calls: string[] = [];
    const events: RuntimeEvent[] = [];
    const r = runner({ registered: false, state: 'Off', mac: '00155D000001', dynamic: true }, calls, events, async () => {
      throw new HypervisorError('VM_INCOMPATIBLE', "module web1: the replica VM cannot be registered on hvb: MissingSwitch: Could not find Ethernet switch 'LAN'.");
    });
    r.enqueue([{ type: 'promote-replica', module: 'web1' }]);
    await r.drain('web1');
    expect(outcome(events)).to.deep.equal(['effect-failed:promote-replica:VM_INCOMPATIBLE']);
  });
});
