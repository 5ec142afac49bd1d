import { run } from '../util/exec';
import type { LabFile, LabHostName, LabVerifyOutput } from '../lab/schema';
import type { Poller } from './poller';
import type { DemoVm } from './schema';
import { onPath } from './setup';
import type { DemoView } from './view';

// The end of the demo: every copy judged equal. A running guest keeps writing, so its copies can
// only be equal once it is quiet: the guests stop writing (the simulated writer's rate set to 0, as
// an idle guest would be), one more cycle per module (`vmmirror sync`) carries the last writes,
// the lab stops, and each VM's two copies are judged by the pattern verifier (`lab verify
// --stopped`) and, when qemu-img is present, by QEMU (`qemu-img compare`), an independent reader.

export async function quiesceAndSync(lab: LabFile, poller: Poller, runningOn: (module: string) => LabHostName, view: DemoView): Promise<void> {
  const { createSimulatedHypervisor } = require('../hypervisor/simulated') as typeof import('../hypervisor/simulated');
  const { callAgent } = require('../agent/control/client') as typeof import('../agent/control/client');
  const { controlEndpoint } = require('../agent/control/endpoint') as typeof import('../agent/control/endpoint');
  for (const m of lab.Modules) {
    const h = lab.Hosts.find((x) => x.Name === runningOn(m.Name))!;
    await createSimulatedHypervisor(h.SimDirectory).setWriter(m.VmId, { ratePerSecond: 0 });
  }
  for (const m of lab.Modules) {
    const h = lab.Hosts.find((x) => x.Name === runningOn(m.Name))!;
    const r = (await callAgent({ ...(await controlEndpoint(h.ConfigDirectory)), timeoutMs: 120_000 }, 'POST', `/v1/modules/${encodeURIComponent(m.Name)}/sync`)) as { ToGeneration: number; StreamBytes: number };
    view.note(`${m.Name}: guest quiet; last cycle on ${h.Name} to generation ${r.ToGeneration} (${r.StreamBytes} B)`);
  }
  await poller.poll();
}

async function qemuCompare(a: string, b: string): Promise<'identical' | 'differs'> {
  const r = await run('qemu-img', ['compare', '-q', a, b], { timeoutMs: 120_000 });
  return r.exitCode === 0 ? 'identical' : 'differs';
}

/** Judges each VM's two copies of a stopped lab. */
export async function judgeCopies(lab: LabFile, verify: LabVerifyOutput): Promise<{ byModule: Map<string, DemoVm['Verification']>; judgedBy: Array<'pattern-verifier' | 'qemu-img compare'> }> {
  const qemu = onPath('qemu-img');
  const byModule = new Map<string, DemoVm['Verification']>();
  for (const m of lab.Modules) {
    const v = verify.Vms.find((x) => x.Module === m.Name);
    const copies = (v?.Copies ?? []).map((c) => ({ Host: c.Host, PrefixSeq: c.PrefixSeq, Consistent: c.Consistent }));
    const seqs = new Set(v?.Copies.map((c) => c.PrefixSeq));
    const patternEqual = v !== undefined && v.Copies.length === 2 && v.Copies.every((c) => c.Consistent === true && c.OnCurrentHistory !== false) && seqs.size === 1 && v.Problems.length === 0;
    const compare = qemu ? await qemuCompare(m.Copies[0]!.Path, m.Copies[1]!.Path) : 'not-run';
    byModule.set(m.Name, { PatternEqual: patternEqual, QemuImgCompare: compare, Copies: copies, Equal: patternEqual && compare !== 'differs' });
  }
  return { byModule, judgedBy: qemu ? ['pattern-verifier', 'qemu-img compare'] : ['pattern-verifier'] };
}
