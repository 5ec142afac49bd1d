import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EffectRunner, type EffectDeps } from '../../../src/agent/cluster/effects';
import type { RuntimeEvent } from '../../../src/agent/cluster/runtime';
import { readModuleRecord } from '../../../src/cluster/record-store';
import type { LoadedConfig, ResolvedModule } from '../../../src/config';
import type { Hypervisor, VmInfo, VmState } from '../../../src/hypervisor/types';
import { componentLogger } from '../../../src/log';
import { tempDir } from '../../helpers/tmp';

// The effect runner against a hypervisor that records what it was asked: order within a module,
// a failed persist stops what depends on it (but never a fence), and every outcome is an event.

const log = componentLogger('test');
const mod: ResolvedModule = {
  name: 'web1', file: 'modules/web1.json', vmName: 'WEB1', disks: 'auto', defaultPrimary: 'hva',
  replication: { interval: 30, compression: 'none', blockSize: 65536 },
  policies: { failback: 'auto', stopMode: 'Shutdown', stopTimeoutSeconds: 1, startTimeoutSeconds: 1 }, hooks: {},
};

function fakeHv(calls: string[], state: { vm: VmState; shutdownHangs?: boolean }): Hypervisor {
  const info = (): VmInfo => ({ id: 'vm-1', name: 'WEB1', state: state.vm, heartbeat: null, memoryBytes: 1, processorCount: 1, configurationVersion: '9.0', generation: 2, disks: [], networkAdapters: [] });
  return {
    getVm: async () => info(),
    startVm: async () => {
      calls.push('startVm');
      state.vm = 'Running';
      return info();
    },
    stopVm: async (_id: string, mode: string) => {
      calls.push(`stopVm:${mode}`);
      if (mode === 'Shutdown' && state.shutdownHangs) throw Object.assign(new Error('guest did not shut down'), { code: 'VM_TIMEOUT' });
      state.vm = 'Off';
      return info();
    },
    setStaticMac: async () => info(),
  } as unknown as Hypervisor;
}

function runner(recordsDir: string, calls: string[], events: RuntimeEvent[], state: { vm: VmState; shutdownHangs?: boolean }): EffectRunner {
  const deps: EffectDeps = {
    config: { modules: [mod], self: { Name: 'hva' } } as unknown as LoadedConfig,
    control: fakeHv(calls, state),
    witness: null,
    recordsDir,
    log,
    dispatch: (e) => events.push(e),
    vmIdOf: async () => 'vm-1',
    releaseReplica: async () => {
      calls.push('release');
      return { generation: 4 };
    },
    beforeStart: async () => void calls.push('guard'),
    resync: async () => ({ generation: 1 }),
    failback: async () => ({ epoch: 2, generation: 1 }),
  };
  return new EffectRunner(deps);
}

describe('src/agent/cluster/effects (the effect runner)', () => {
  it('runs a module\'s effects in order: the record is durable before the replica is promoted and the VM started', async () => {
    const t = await tempDir('vmmirror-effects-');
    try {
      const calls: string[] = [];
      const events: RuntimeEvent[] = [];
      const r = runner(t.dir, calls, events, { vm: 'Off' });
      r.enqueue([
        { type: 'persist', module: 'web1', state: 'ALONE', waitReason: null, epoch: 3, owner: 'hva', generation: 4 },
        { type: 'promote-replica', module: 'web1' },
        { type: 'start-vm', module: 'web1' },
      ]);
      expect(r.isBusy('web1')).to.equal(true);
      await r.drain('web1');
      expect((await readModuleRecord(t.dir, 'web1'))?.Epoch).to.equal(3);
      expect(calls).to.deep.equal(['release', 'guard', 'startVm']);
      expect(events.map((e) => `${e.type}:${(e as { effect?: string }).effect}`)).to.deep.equal(['effect-done:promote-replica', 'effect-done:start-vm']);
    } finally {
      await t.cleanup();
    }
  });

  it('after a persist that failed, skips the start (reported failed, so it is asked again) but still fences', async () => {
    const t = await tempDir('vmmirror-effects-');
    try {
      const blocked = join(t.dir, 'records');
      await writeFile(blocked, 'a file where the records folder should be');
      const calls: string[] = [];
      const events: RuntimeEvent[] = [];
      const r = runner(blocked, calls, events, { vm: 'Running' });
      r.enqueue([
        { type: 'persist', module: 'web1', state: 'WAIT', waitReason: 'no-quorum', epoch: 3, owner: 'hva', generation: 4 },
        { type: 'fence', module: 'web1', mode: 'TurnOff' },
        { type: 'start-vm', module: 'web1' },
      ]);
      await r.drain('web1');
      expect(calls).to.deep.equal(['stopVm:TurnOff']);
      expect(events.map((e) => `${e.type}:${(e as { effect?: string }).effect}`)).to.deep.equal(['effect-done:fence', 'effect-failed:start-vm']);
    } finally {
      await t.cleanup();
    }
  });

  it('treats a fence of a VM that is already off as done, and turns off a guest that would not shut down', async () => {
    const t = await tempDir('vmmirror-effects-');
    try {
      const calls: string[] = [];
      const events: RuntimeEvent[] = [];
      const state: { vm: VmState; shutdownHangs?: boolean } = { vm: 'Off' };
      const r = runner(t.dir, calls, events, state);
      r.enqueue([{ type: 'fence', module: 'web1', mode: 'TurnOff' }]);
      await r.drain('web1');
      expect(calls).to.deep.equal([]);
      expect(events[0]).to.deep.include({ type: 'effect-done', effect: 'fence' });
      Object.assign(state, { vm: 'Running', shutdownHangs: true });
      r.enqueue([{ type: 'stop-vm', module: 'web1' }]);
      await r.drain('web1');
      expect(calls).to.deep.equal(['stopVm:Shutdown', 'stopVm:TurnOff']);
      expect(state.vm).to.equal('Off');
      expect(events[1]).to.deep.include({ type: 'effect-done', effect: 'stop-vm' });
    } finally {
      await t.cleanup();
    }
  });
});
