import type { CommandRegistrar } from '../command';
import { withExamples } from '../help';

// `vmmirror lab create|start|stop|crash|verify`: declared here (light); the lab, the simulated
// hypervisor and the agent's control client load only when a lab command runs (docs/lab.md).

type Lab = typeof import('../commands/lab');
const lab = (): Lab => require('../commands/lab') as Lab;

export const registerLab: CommandRegistrar = (program, run) => {
  const group = program.command('lab').description('a simulated two-host cluster with a witness, run from the CLI alone (no Hyper-V)');
  withExamples(group, [['vmmirror lab create ./lab && vmmirror lab start ./lab', 'make a lab and start its witness, agents and guards']]);
  const create = group
    .command('create <dir>')
    .description('two simulated hosts (hva, hvb) and a witness under <dir>, N VMs registered on both hosts, module files ready')
    .option('--vms <n>', 'simulated VMs, default primaries alternating hva, hvb (default 4)')
    .option('--addresses <hva,hvb,witness>', 'listen addresses, each optionally :port (default: loopback, ports the OS picks; given: ports 7420, 7420, 7422)')
    .option('--heartbeat-ms <n>', 'Agent.HeartbeatIntervalMs (default 1000)')
    .option('--peer-timeout-ms <n>', 'Agent.PeerLossTimeoutMs (default 5000)')
    .option('--interval <s>', 'Replication.Interval in seconds (default 2)')
    .option('--disk-mib <n>', 'virtual size of each VM disk, dynamic VHDX with 1 MiB blocks (default 16)')
    .option('--writes-per-second <n>', 'pattern writes per second of each guest (default 20)')
    .option('--seed <n>', 'seeds the guest writers (default: random, recorded in lab.json)')
    .option('--failback <auto|manual>', 'Policies.Failback of every module (default auto; manual: a VM stays where a failover put it until `vmmirror failback`)')
    .option('--register <both|primary>', 'register each VM on both hosts (default) or on its default primary only (a takeover then registers it from the exported configuration)')
    .action((dir: string, opts: import('../commands/lab').LabCreateCliOptions) => run(() => lab().runLabCreate(dir, opts)));
  withExamples(create, [
    ['vmmirror lab create ./lab --vms 2 --json', 'two VMs; print the lab (hosts, config dirs, addresses, modules) as JSON'],
    ['vmmirror lab create /tmp/lab --addresses 10.231.0.2,10.231.0.3,10.231.0.4', 'hosts and witness at namespace addresses (the processes are then started inside them)'],
  ]);
  const start = group
    .command('start <dir> [target]')
    .description('start the witness and, per host, its guard and agent as background processes (target: hva, hvb or witness; default all)')
    .action((dir: string, target: string | undefined) => run(() => lab().runLabStart(dir, target)));
  withExamples(start, [
    ['vmmirror lab start ./lab', 'start everything; waits until each agent answers'],
    ['vmmirror lab start ./lab hva', 'bring hva back after a crash'],
  ]);
  const stop = group
    .command('stop <dir> [target]')
    .description("stop guards, agents and the witness (SIGTERM), then shut the host's VMs down cleanly (target: hva, hvb or witness)")
    .action((dir: string, target: string | undefined) => run(() => lab().runLabStop(dir, target)));
  withExamples(stop, [['vmmirror lab stop ./lab', 'stop the whole lab; the disks can then be compared']]);
  const crash = group
    .command('crash <dir> <target>')
    .description('SIGKILL a host: its agent, its guard and its VM processes (or the witness)')
    .option('--agent-only', 'kill only the agent: the guard and the VMs keep running')
    .action((dir: string, target: string, opts: { agentOnly?: boolean }) => run(() => lab().runLabCrash(dir, target, opts)));
  withExamples(crash, [
    ['vmmirror lab crash ./lab hva', 'power loss of hva'],
    ['vmmirror lab crash ./lab hva --agent-only', "only hva's agent dies; its guard must fence the VMs"],
  ]);
  const verify = group
    .command('verify <dir>')
    .description('for each VM: which host runs it, whether each copy holds a consistent prefix of its writes, the writes lost (exit 1 on any problem)')
    .option('--stopped', 'the lab was stopped: every VM must run nowhere (else exactly one host)')
    .action((dir: string, opts: { stopped?: boolean }) => run(() => lab().runLabVerify(dir, opts)));
  withExamples(verify, [['vmmirror lab verify ./lab --json | ConvertFrom-Json', 'from PowerShell: per VM RunningOn, Copies, WritesLost']]);
};
