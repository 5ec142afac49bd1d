import { UsageError } from '../errors';
import { labHostName, labPaths, processesOf, readLab, type LabProcessName } from './layout';
import { endProcesses, startProcesses } from './processes';
import { LAB_HOSTS, type LabActionOutput, type LabHostName } from './schema';

// `vmmirror lab start|stop|crash`: the lab's processes and its simulated VMs, by host.

/** Starts the witness and both hosts (or one of them): what already runs is left alone. */
export async function startLab(dir: string, target?: string): Promise<LabActionOutput> {
  const lab = await readLab(dir);
  const p = labPaths(lab.Directory);
  return { Directory: p.dir, Processes: await startProcesses(p, processesOf(target)), Vms: [] };
}

/**
 * Stops the lab (or one host, or the witness): guards first (so none fences a VM as its agent
 * goes), then agents, then the witness; then the hosts' VMs are shut down cleanly, so each copy
 * ends on a completed write and the copies can be compared.
 */
export async function stopLab(dir: string, target?: string): Promise<LabActionOutput> {
  const lab = await readLab(dir);
  const p = labPaths(lab.Directory);
  const names = processesOf(target);
  const ordered: LabProcessName[] = [...names.filter((n) => n.endsWith('-guard')), ...names.filter((n) => n.endsWith('-agent')), ...names.filter((n) => n === 'witness')];
  const processes = await endProcesses(p, ordered, 'term');
  const hosts: LabHostName[] = target === undefined ? [...LAB_HOSTS] : target === 'witness' ? [] : [labHostName(target)];
  const vms: LabActionOutput['Vms'] = [];
  if (hosts.length > 0) {
    const { createSimulatedHypervisor, simulatedVmPids } = require('../hypervisor/simulated') as typeof import('../hypervisor/simulated');
    for (const h of hosts) {
      const simDir = p.host(h).simDir;
      const hv = createSimulatedHypervisor(simDir);
      for (const { vmId } of await simulatedVmPids(simDir)) {
        await hv.stopVm(vmId, 'Shutdown', { timeoutMs: 30_000 });
        vms.push({ Host: h, VmId: vmId, Action: 'shut-down' });
      }
    }
  }
  return { Directory: p.dir, Processes: processes, Vms: vms };
}

/** SIGKILLs a host as a power loss would: its agent, its guard and its VM processes (or only the agent). Also `witness`. */
export async function crashLab(dir: string, target: string, o: { agentOnly?: boolean } = {}): Promise<LabActionOutput> {
  const lab = await readLab(dir);
  const p = labPaths(lab.Directory);
  if (target === 'witness') {
    if (o.agentOnly === true) throw new UsageError('--agent-only applies to a host (hva or hvb), not the witness');
    return { Directory: p.dir, Processes: await endProcesses(p, ['witness'], 'kill'), Vms: [] };
  }
  const h = labHostName(target);
  const processes = await endProcesses(p, o.agentOnly === true ? [`${h}-agent`] : [`${h}-agent`, `${h}-guard`], 'kill');
  const vms: LabActionOutput['Vms'] = [];
  if (o.agentOnly !== true) {
    const { crashSimulatedHost, simulatedVmPids } = require('../hypervisor/simulated') as typeof import('../hypervisor/simulated');
    const running = await simulatedVmPids(p.host(h).simDir);
    await crashSimulatedHost(p.host(h).simDir);
    for (const { vmId } of running) vms.push({ Host: h, VmId: vmId, Action: 'killed' });
  }
  return { Directory: p.dir, Processes: processes, Vms: vms };
}
