import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { HypervisorError } from '../../errors';
import type { StopMode } from '../types';
import { sendRequest } from './control';
import { readHostConfig, readHostEpoch, vmPaths, writeVmRecord } from './store';
import { hostInfo, observeVm, type Observed } from './vm-info';
import { isVmProcessAlive, killVmProcess, launchVmProcess } from './vm-launch';

// Starting and stopping a VM's process: the simulated Start-VM and Stop-VM. The caller holds the
// VM's lock and has checked that it exists.

/** Polls `cond` every 10 ms; VM_TIMEOUT past `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string, vmId: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new HypervisorError('VM_TIMEOUT', `VM ${vmId}: ${what} did not happen within ${timeoutMs} ms`, { details: { vmId, timeoutMs } });
    await sleep(10);
  }
}

function wrongState(o: Observed, what: string): HypervisorError {
  return new HypervisorError('VM_WRONG_STATE', `cannot ${what} VM ${o.record.id}: it is ${o.state}`, { details: { vmId: o.record.id, state: o.state } });
}

/** Starts an Off/Saved VM's process and waits for its heartbeat; returns its pid. */
export async function startVmProcess(stateDir: string, o: Observed, timeoutMs: number): Promise<number> {
  const id = o.record.id;
  if (o.state !== 'Off' && o.state !== 'Saved') throw wrongState(o, 'start');
  const host = await hostInfo(stateDir, readHostConfig(stateDir));
  if (o.record.memoryBytes > host.freeMemoryBytes) {
    const msg = `Not enough memory in the system to start the virtual machine (needs ${o.record.memoryBytes} bytes, ${host.freeMemoryBytes} free).`;
    throw new HypervisorError('HYPERVISOR_ERROR', msg, { details: { vmId: id, platformMessage: msg } });
  }
  const bootId = randomUUID();
  await writeVmRecord(stateDir, { ...o.record, state: 'Running' });
  const pid = launchVmProcess(stateDir, id, bootId, readHostEpoch(stateDir));
  try {
    await waitFor(() => {
      const now = observeVm(stateDir, id);
      if (now?.runtime?.bootId === bootId && now.alive && now.runtime.ready) return true;
      if (!isVmProcessAlive(pid, id)) {
        throw new HypervisorError('HYPERVISOR_ERROR', `VM ${id} process exited while starting (see ${vmPaths(stateDir, id).dir}/process.log)`, { details: { vmId: id } });
      }
      return false;
    }, timeoutMs, 'start', id);
  } catch (err) {
    killVmProcess(pid, id);
    await writeVmRecord(stateDir, { ...o.record, state: 'Off' });
    throw err;
  }
  return pid;
}

/** Stops a running VM (Shutdown/Save: the process finishes its write and exits; TurnOff: SIGKILL) and records the state. */
export async function stopVmProcess(stateDir: string, o: Observed, mode: StopMode, timeoutMs: number): Promise<void> {
  const id = o.record.id;
  if (o.state === 'Saved' && mode === 'TurnOff') {
    // Turning off a saved VM discards its saved state.
    await writeVmRecord(stateDir, { ...o.record, state: 'Off' });
    return;
  }
  if (!o.alive || o.runtime === null) throw wrongState(o, 'stop');
  const { pid, bootId } = o.runtime;
  if (mode === 'TurnOff') killVmProcess(pid, id);
  else await sendRequest(stateDir, id, bootId, { kind: 'shutdown' }, { timeoutMs, alive: () => isVmProcessAlive(pid, id) });
  await waitFor(() => !isVmProcessAlive(pid, id), timeoutMs, 'stop', id);
  await writeVmRecord(stateDir, { ...(observeVm(stateDir, id)?.record ?? o.record), state: mode === 'Save' ? 'Saved' : 'Off' });
}
