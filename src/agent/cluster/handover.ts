import type { z } from 'zod';
import type { ResolvedModule } from '../../config';
import { VmmirrorError } from '../../errors';
import type { VmId } from '../../hypervisor/types';
import type { WitnessClient } from '../../witness';
import type { HandoverRequest } from '../messages';
import type { ClusterRuntime } from './runtime';
import { moveReason, type SwitchoverDeps } from './switchover';

// The owner's side of a planned switchover (a failback or an operator's failover): a cycle while
// the VM still runs, stop, the final cycle (zero loss: every write before the stop is in it), the
// next epoch recorded at the witness for the asker, then here (PRIM -> SECOND); the answer carries
// the figures. If a step fails before the epoch is handed over, the VM starts here again and the
// error (HANDOVER_FAILED) names the step.

function moduleOf(d: SwitchoverDeps, name: string): ResolvedModule {
  const m = d.config.modules.find((x) => x.name === name);
  if (m === undefined) throw new VmmirrorError('MODULE_NOT_FOUND', `no module named ${name}`);
  return m;
}

export async function answerHandover(d: SwitchoverDeps, body: z.output<typeof HandoverRequest.body>): Promise<z.input<typeof HandoverRequest.reply>> {
  const { rt } = d;
  const m = moduleOf(d, body.module);
  rt.assertOwner(m.name, body.epoch, ['PRIM']);
  const peer = rt.snapshot.peerModules[m.name];
  if (peer?.state !== 'SECOND' || peer.epoch !== body.epoch) throw new VmmirrorError('MODULE_NOT_SECONDARY', `module ${m.name}: the peer does not hold the replica at epoch ${body.epoch}`);
  if (rt.handingOver.has(m.name)) throw new VmmirrorError('HANDOVER_FAILED', `module ${m.name}: a handover is already running`);
  rt.handingOver.add(m.name);
  let step = 'pre-sync';
  let stopped = false;
  const to = d.config.peer.Name;
  try {
    await d.effects.drain(m.name);
    const id = await d.vmIdOf(m);
    // A cycle while the VM still runs (after any scheduled one in flight): the final cycle, the
    // one the guest waits for, then carries only the writes of the last moments.
    const pre = await d.runners.get(m.name)!.syncNow(body.epoch);
    // PreStop gates the move: a failure stops it here, before anything stopped (the VM runs on).
    step = 'pre-stop hook';
    const reason = moveReason(d, m, d.config.self.Name, to);
    await d.hooks?.pre('PreStop', m, reason, { epoch: body.epoch, vmId: id });
    step = 'stop';
    const t0 = performance.now();
    await stopForHandover(d, m, id);
    stopped = true;
    const stopMs = performance.now() - t0;
    step = 'final sync';
    const t1 = performance.now();
    const report = await d.runners.get(m.name)!.syncNow(body.epoch);
    const syncMs = performance.now() - t1;
    const fromGeneration = pre.fromGeneration;
    const next = body.epoch + 1;
    if (d.witness !== null) {
      step = 'witness';
      await handOverAtWitness(d, d.witness, m.name, body.epoch, to);
    }
    step = 'record';
    rt.dispatch({ type: 'handed-over', module: m.name, epoch: next, to });
    await d.effects.drain(m.name);
    const now = rt.snapshot.modules[m.name];
    if (now?.epoch !== next || now.owner !== to) throw new VmmirrorError('HANDOVER_FAILED', `the handover was not recorded (epoch ${now?.epoch}, owner ${now?.owner ?? 'none'})`);
    // PostStop only reports: it runs after the answer is on its way, so it never adds to the downtime.
    if (d.hooks !== undefined) setImmediate(() => void d.hooks!.post('PostStop', m, reason, { epoch: next, vmId: id }));
    d.log.info({ event: 'handed-over', module: m.name, epoch: next, to, stopMs: Math.round(stopMs), syncMs: Math.round(syncMs), finalBytes: report.streamBytes }, `${m.name}: handed over to ${to} under epoch ${next}`);
    return { epoch: next, generation: report.toGeneration, finalBytes: report.streamBytes, stopMs, syncMs, fromGeneration, handoverMs: performance.now() - t0 };
  } catch (err) {
    const handed = rt.snapshot.modules[m.name]?.owner === to;
    if (stopped && !handed) await restartHere(d, m).catch((e: unknown) => d.log.error({ module: m.name, err: e }, 'could not start the VM again after a failed handover'));
    const msg = err instanceof Error ? err.message : String(err);
    throw new VmmirrorError('HANDOVER_FAILED', `switchover of ${m.name} to ${to} stopped at step "${step}": ${msg}; the VM runs on ${handed ? to : d.config.self.Name}`, { cause: err });
  } finally {
    rt.handingOver.delete(m.name);
  }
}

// The witness must name the receiver before it starts the VM. A handover claim is idempotent, so
// a lost answer is asked again; a witness with no record of the module (replaced, or the module
// is new to it) first hears the owner confirm its own epoch.
async function handOverAtWitness(d: SwitchoverDeps, witness: WitnessClient, module: string, epoch: number, to: string): Promise<void> {
  const next = epoch + 1;
  let last: Awaited<ReturnType<ClusterRuntime['awaitOwnClaim']>> = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    const answer = d.rt.awaitOwnClaim(module, next, 5000);
    witness.claim(module, next, 'handover', to);
    last = await answer;
    if (last?.granted === true && last.current.owner === to) return;
    if (last !== null && last.current.epoch < epoch) {
      const confirmed = d.rt.awaitOwnClaim(module, epoch, 5000);
      witness.claim(module, epoch, 'own');
      const c = await confirmed;
      if (c?.granted !== true) throw new VmmirrorError('HANDOVER_FAILED', `the witness does not confirm epoch ${epoch} of this host (${c === null ? 'no answer' : `it holds ${c.current.epoch}`})`);
    } else if (last !== null) break;
  }
  throw new VmmirrorError('HANDOVER_FAILED', `the witness did not record epoch ${next} for ${to} (${last === null ? 'no answer' : `current ${last.current.epoch} owned by ${last.current.owner ?? 'none'}`})`);
}

async function stopForHandover(d: SwitchoverDeps, m: ResolvedModule, id: VmId): Promise<void> {
  const vm = await d.control.getVm(id);
  if (vm === null || vm.state === 'Off') return;
  // Save would leave memory state the peer cannot use: a planned switchover shuts down (or turns
  // off). A hung guest cannot shut down: it is turned off (the final cycle still follows the stop).
  const mode = d.hungGuest?.(m.name) === true ? 'TurnOff' : m.policies.stopMode === 'Save' ? 'Shutdown' : m.policies.stopMode;
  try {
    await d.control.stopVm(id, mode, { timeoutMs: m.policies.stopTimeoutSeconds * 1000 });
  } catch (err) {
    const now = await d.control.getVm(id);
    if (now?.state === 'Off') return;
    if (mode === 'TurnOff') throw err;
    d.log.warn({ module: m.name, err }, 'shutdown did not finish; turning the VM off for the handover');
    await d.control.stopVm(id, 'TurnOff', { timeoutMs: 10_000 });
  }
}

async function restartHere(d: SwitchoverDeps, m: ResolvedModule): Promise<void> {
  const id = await d.vmIdOf(m);
  const vm = await d.control.getVm(id);
  if (vm !== null && vm.state !== 'Running') await d.control.startVm(id, { timeoutMs: m.policies.startTimeoutSeconds * 1000, waitHeartbeat: false });
}
