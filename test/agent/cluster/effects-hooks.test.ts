import { expect } from 'chai';
import { EffectRunner, type EffectDeps } from '../../../src/agent/cluster/effects';
import type { RuntimeEvent } from '../../../src/agent/cluster/runtime';
import type { LoadedConfig, ResolvedModule } from '../../../src/config';
import type { Hypervisor, VmInfo, VmState } from '../../../src/hypervisor/types';
import { componentLogger } from '../../../src/log';
import { hookFixture, type HookFixture } from '../../hooks/fixture';

// The cluster effects' hooks (docs/hooks.md "Where the agent calls them"), real pwsh scripts
// around a hypervisor that records what it was asked: a start-vm runs PreStart then the start then
// PostStart (reason takeover on the host that is not the default primary); a failing PreStart
// aborts the start (effect-failed HOOK_FAILED, nothing started, the report kept for status); an
// operator's stop runs PreStop (reported, the stop goes on) and PostStop; a fence runs none.

const log = componentLogger('test');

function fakeHv(calls: string[], state: { vm: VmState }): Hypervisor {
  const info = (): VmInfo => ({ id: 'vm-1', name: 'WEB1', state: state.vm, heartbeat: null, memoryBytes: 1, processorCount: 1, configurationVersion: '9.0', generation: 2, disks: [], networkAdapters: [] });
  return {
    getVm: async () => info(),
    startVm: async () => (calls.push('startVm'), (state.vm = 'Running'), info()),
    stopVm: async (_id: string, mode: string) => (calls.push(`stopVm:${mode}`), (state.vm = 'Off'), info()),
    setStaticMac: async () => info(),
  } as unknown as Hypervisor;
}

function runner(f: HookFixture, mod: ResolvedModule, calls: string[], events: RuntimeEvent[], state: { vm: VmState }): EffectRunner {
  const deps: EffectDeps = {
    config: { modules: [mod], self: { Name: 'hvb' } } as unknown as LoadedConfig,
    control: fakeHv(calls, state),
    witness: null,
    recordsDir: f.dir,
    log,
    dispatch: (e) => events.push(e),
    vmIdOf: async () => 'vm-1',
    releaseReplica: async () => ({ generation: 4 }),
    beforeStart: async () => void calls.push('guard'),
    resync: async () => ({ generation: 1 }),
    failback: async () => ({ epoch: 2, generation: 1 }),
    hooks: f.runner,
    epochOf: () => 7,
  };
  return new EffectRunner(deps);
}

describe('src/agent/cluster/effects: hooks around the starts and stops the cluster layer asks for (real pwsh)', function () {
  this.timeout(60_000);
  let f: HookFixture;
  beforeEach(async () => (f = await hookFixture()));
  afterEach(async () => f.cleanup());

  it('start-vm: PreStart, the start, PostStart (reason takeover, the epoch); stop-vm: PreStop and PostStop (manual); a fence runs none', async () => {
    const all = { preStart: 'hooks/Record-Call.ps1', postStart: 'hooks/Record-Call.ps1', preStop: 'hooks/Record-Call.ps1', postStop: 'hooks/Record-Call.ps1' };
    const calls: string[] = [];
    const events: RuntimeEvent[] = [];
    const state = { vm: 'Off' as VmState };
    const r = runner(f, f.module(all), calls, events, state);
    r.enqueue([{ type: 'start-vm', module: 'web1' }]);
    await r.drain('web1');
    expect(await f.calls()).to.deep.equal(['PreStart web1 takeover 7', 'PostStart web1 takeover 7']);
    expect(calls).to.deep.equal(['guard', 'startVm']);
    r.enqueue([{ type: 'stop-vm', module: 'web1' }]);
    await r.drain('web1');
    r.enqueue([{ type: 'start-vm', module: 'web1' }]);
    await r.drain('web1');
    r.enqueue([{ type: 'fence', module: 'web1', mode: 'TurnOff' }]);
    await r.drain('web1');
    expect(await f.calls()).to.deep.equal(['PreStart web1 takeover 7', 'PostStart web1 takeover 7', 'PreStop web1 manual 7', 'PostStop web1 manual 7', 'PreStart web1 takeover 7', 'PostStart web1 takeover 7']);
    expect(calls).to.deep.equal(['guard', 'startVm', 'stopVm:Shutdown', 'guard', 'startVm', 'stopVm:TurnOff']);
    expect(events.map((e) => [e.type, 'effect' in e ? e.effect : ''])).to.deep.equal([['effect-done', 'start-vm'], ['effect-done', 'stop-vm'], ['effect-done', 'start-vm'], ['effect-done', 'fence']]);
    expect(r.hookFailures.size).to.equal(0);
  });

  it('a failing PreStart aborts the start: effect-failed HOOK_FAILED, the VM stays off, the report (script, exit code, its reason) kept for status; a passing one clears it', async () => {
    const calls: string[] = [];
    const events: RuntimeEvent[] = [];
    const state = { vm: 'Off' as VmState };
    const failing = runner(f, f.module({ preStart: 'hooks/Exit-Failure.ps1', postStart: 'hooks/Record-Call.ps1' }), calls, events, state);
    failing.enqueue([{ type: 'start-vm', module: 'web1' }]);
    await failing.drain('web1');
    expect(events).to.have.length(1);
    expect(events[0]).to.deep.include({ type: 'effect-failed', module: 'web1', effect: 'start-vm', code: 'HOOK_FAILED' });
    expect({ vm: state.vm, calls, postStart: await f.calls() }).to.deep.equal({ vm: 'Off', calls: ['guard'], postStart: [] });
    const kept = failing.hookFailures.get('web1');
    expect({ hook: kept?.report.Hook, ok: kept?.report.Ok, exit: kept?.report.ExitCode, code: kept?.report.Code, reason: kept?.reason }).to.deep.equal({ hook: 'PreStart', ok: false, exit: 3, code: 'HOOK_FAILED', reason: 'takeover' });
    expect(kept?.report.Message).to.match(/PreStart hook .*Exit-Failure\.ps1 exited with code 3 .*cannot drain: pool web is busy/);
    // The same runner's module, its PreStart now passing: the start goes on and the failure is cleared.
    const mod = f.module({ preStart: 'hooks/Record-Call.ps1' });
    (failing as unknown as { d: EffectDeps }).d.config.modules[0] = mod;
    failing.enqueue([{ type: 'start-vm', module: 'web1' }]);
    await failing.drain('web1');
    expect({ vm: state.vm, failures: failing.hookFailures.size, last: events.at(-1)?.type }).to.deep.equal({ vm: 'Running', failures: 0, last: 'effect-done' });
  });
});
