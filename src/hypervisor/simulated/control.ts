import { randomUUID } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { HypervisorError } from '../../errors';
import { SimRequest, SimResponse, type SimOp } from './schemas';
import { readJson, vmPaths, writeJsonAtomic } from './store';

// The driver talks to a running VM process through files in the VM's folder, so the channel
// survives the driver (the agent) restarting: a request is written atomically into requests/,
// the process handles requests in name order and answers in responses/ under the same name.
// A request carries the boot id of the process it is for; a later boot discards it unanswered.

let counter = 0;

/** Sends `op` to the VM process of boot `bootId` and waits for its answer. */
export async function sendRequest(
  stateDir: string, vmId: string, bootId: string, op: SimOp,
  o: { timeoutMs: number; alive: () => boolean },
): Promise<unknown> {
  const p = vmPaths(stateDir, vmId);
  counter = (counter + 1) % 1_000_000;
  const name = `${String(Date.now()).padStart(15, '0')}-${String(counter).padStart(6, '0')}-${randomUUID()}.json`;
  const request: SimRequest = { bootId, op };
  writeJsonAtomic(join(p.requests, name), request);
  const deadline = Date.now() + o.timeoutMs;
  let lastAliveCheck = Date.now();
  for (;;) {
    const response = readJson(join(p.responses, name), SimResponse);
    if (response !== null) {
      rmSync(join(p.responses, name), { force: true });
      if (response.ok) return response.result;
      const code = response.error?.code;
      const known = code === 'VM_WRONG_STATE' || code === 'VM_NOT_FOUND' || code === 'RCT_UNAVAILABLE' ? code : 'HYPERVISOR_ERROR';
      throw new HypervisorError(known, `simulated VM ${vmId}: ${response.error?.message ?? 'request failed'}`, { details: { vmId, op: op.kind, platformMessage: response.error?.message } });
    }
    if (Date.now() - lastAliveCheck >= 50) {
      lastAliveCheck = Date.now();
      if (!o.alive()) {
        rmSync(join(p.requests, name), { force: true });
        throw new HypervisorError('VM_WRONG_STATE', `simulated VM ${vmId} stopped before answering ${op.kind}`, { details: { vmId, op: op.kind } });
      }
    }
    if (Date.now() > deadline) {
      rmSync(join(p.requests, name), { force: true });
      throw new HypervisorError('VM_TIMEOUT', `simulated VM ${vmId} did not answer ${op.kind} within ${o.timeoutMs} ms`, { details: { vmId, op: op.kind, timeoutMs: o.timeoutMs } });
    }
    await sleep(5);
  }
}

/** Process side: pending requests in order (invalid ones and other boots' are removed). */
export function takeRequests(stateDir: string, vmId: string, bootId: string): Array<{ name: string; op: SimOp }> {
  const p = vmPaths(stateDir, vmId);
  const names = readdirSync(p.requests).filter((n) => n.endsWith('.json')).sort();
  const out: Array<{ name: string; op: SimOp }> = [];
  for (const name of names) {
    let req: SimRequest | null = null;
    try {
      req = readJson(join(p.requests, name), SimRequest);
    } catch {
      req = null;
    }
    if (req === null || req.bootId !== bootId) {
      rmSync(join(p.requests, name), { force: true });
      continue;
    }
    out.push({ name, op: req.op });
  }
  return out;
}

/** Process side: answers a request (the request is removed first, so an answered one never lingers). */
export function answerRequest(stateDir: string, vmId: string, name: string, response: SimResponse): void {
  const p = vmPaths(stateDir, vmId);
  rmSync(join(p.requests, name), { force: true });
  writeJsonAtomic(join(p.responses, name), response);
}
