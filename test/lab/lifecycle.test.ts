import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { simulatedVmPids } from '../../src/hypervisor/simulated';
import { PidRecord } from '../../src/lab/pid-files';
import { LabActionOutput } from '../../src/lab/schema';
import { seeded } from '../helpers/seed';
import { createTestLab, readJsonFile, type LabUnderTest } from './lab-cli';

// `vmmirror lab start|stop|crash` with real processes: pid files that name live processes, a
// second start that starts nothing, crashes that kill exactly what they say, and a stop that
// leaves no process of the lab behind (found by command line, not only by the pid files).

/** Every live (non-zombie) process whose command line mentions `dir`. */
function processesMentioning(dir: string): Array<{ pid: number; cmd: string }> {
  const out: Array<{ pid: number; cmd: string }> = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2))) continue;
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes(dir)) out.push({ pid: Number(name), cmd });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

async function pidOf(t: LabUnderTest, name: string): Promise<number> {
  return PidRecord.parse(await readJsonFile(join(t.dir, 'run', `${name}.pid`))).Pid;
}

/** Waits (for the event, polled) until the host's simulated VM processes run exactly `vmIds`. */
async function waitVmsOn(simDir: string, vmIds: string[], timeoutMs = 90_000): Promise<Array<{ vmId: string; pid: number }>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await simulatedVmPids(simDir);
    if (JSON.stringify(now.map((x) => x.vmId).sort()) === JSON.stringify([...vmIds].sort())) return now;
    if (Date.now() > deadline) throw new Error(`VMs on ${simDir}: ${JSON.stringify(now)}, expected ${JSON.stringify(vmIds)}`);
    await sleep(100);
  }
}

describe('vmmirror lab start, stop and crash (real processes)', function () {
  this.timeout(300_000);
  const rng = seeded('lab lifecycle');
  let t: LabUnderTest;
  before(async () => {
    process.stderr.write(`      lab seed ${rng.seed}\n`);
    t = await createTestLab(rng.seed, ['--vms', '2']);
  });
  after(() => t.cleanup());

  const action = async (args: string[]): Promise<LabActionOutput> => {
    const r = await t.cli(['lab', ...args, '--json']);
    expect(r.exitCode, `${args.join(' ')}: ${r.stdout} ${r.stderr}`).to.equal(0);
    return LabActionOutput.parse(JSON.parse(r.stdout));
  };
  const names = ['witness', 'hva-guard', 'hva-agent', 'hvb-guard', 'hvb-agent'];

  it('starts the witness, guards and agents detached, with pid files naming the live processes; each agent answers status', async () => {
    const out = await action(['start', t.dir]);
    expect(out.Processes.map((p) => [p.Name, p.Action])).to.deep.equal(names.map((n) => [n, 'started']));
    for (const p of out.Processes) {
      expect(await pidOf(t, p.Name)).to.equal(p.Pid);
      expect(alive(p.Pid!), p.Name).to.equal(true);
      const cmd = readFileSync(`/proc/${p.Pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
      const [host, role] = p.Name.split('-');
      if (p.Name === 'witness') expect(cmd.slice(-4)).to.deep.equal(['witness', 'run', '--dir', t.lab.Witness.Directory]);
      else expect(cmd.slice(-3)).to.deep.equal([role, '--dir', join(t.dir, host!, 'config')]);
      expect(p.LogFile).to.equal(join(t.dir, 'logs', `${p.Name}.log`));
    }
    for (const h of t.lab.Hosts) {
      const r = await t.cli(['status', '--dir', h.ConfigDirectory, '--json']);
      expect(r.exitCode, r.stdout + r.stderr).to.equal(0);
    }
  });

  it('starts nothing that already runs', async () => {
    const before = await Promise.all(names.map((n) => pidOf(t, n)));
    const out = await action(['start', t.dir]);
    expect(out.Processes.map((p) => [p.Name, p.Action, p.Pid])).to.deep.equal(names.map((n, i) => [n, 'already-running', before[i]]));
  });

  it('crash kills the host\'s agent, guard and VM processes, and nothing of the other host', async () => {
    const [hva, hvb] = t.lab.Hosts;
    const vm1 = t.lab.Modules.find((m) => m.DefaultPrimary === 'hva')!;
    const vm2 = t.lab.Modules.find((m) => m.DefaultPrimary === 'hvb')!;
    // The cluster starts each VM on its default primary.
    const onA = await waitVmsOn(hva!.SimDirectory, [vm1.VmId]);
    const onB = await waitVmsOn(hvb!.SimDirectory, [vm2.VmId]);
    const [agent, guard] = [await pidOf(t, 'hva-agent'), await pidOf(t, 'hva-guard')];
    const others = await Promise.all(['hvb-agent', 'hvb-guard', 'witness'].map((n) => pidOf(t, n)));
    const out = await action(['crash', t.dir, 'hva']);
    expect(out.Processes.map((p) => [p.Name, p.Pid, p.Action])).to.deep.equal([['hva-agent', agent, 'killed'], ['hva-guard', guard, 'killed']]);
    expect(out.Vms).to.deep.equal([{ Host: 'hva', VmId: vm1.VmId, Action: 'killed' }]);
    expect([agent, guard, ...onA.map((x) => x.pid)].map(alive)).to.deep.equal([false, false, false]);
    expect(others.map(alive)).to.deep.equal([true, true, true]);
    expect(onB.map((x) => alive(x.pid))).to.deep.equal([true]);
    expect(processesMentioning(join(t.dir, 'hva')), 'processes of hva left').to.deep.equal([]);
    expect(readdirSync(join(t.dir, 'run')).sort()).to.deep.equal(['hvb-agent.pid', 'hvb-guard.pid', 'witness.pid']);
  });

  it('crash --agent-only kills only the agent: its guard and its VMs keep running', async () => {
    const hvb = t.lab.Hosts[1]!;
    const vm2 = t.lab.Modules.find((m) => m.DefaultPrimary === 'hvb')!;
    const vmsBefore = await simulatedVmPids(hvb.SimDirectory);
    expect(vmsBefore.map((x) => x.vmId)).to.include(vm2.VmId);
    const others = await Promise.all(['hvb-guard', 'witness'].map((n) => pidOf(t, n)));
    const agent = await pidOf(t, 'hvb-agent');
    const out = await action(['crash', t.dir, 'hvb', '--agent-only']);
    expect(out.Processes).to.deep.equal([{ Name: 'hvb-agent', Pid: agent, Action: 'killed', LogFile: join(t.dir, 'logs', 'hvb-agent.log') }]);
    expect(out.Vms).to.deep.equal([]);
    expect(alive(agent)).to.equal(false);
    // Checked at once: later the guard itself turns the VMs off when the dead agent's lease ends.
    expect(others.map(alive)).to.deep.equal([true, true]);
    expect(vmsBefore.map((x) => alive(x.pid))).to.deep.equal(vmsBefore.map(() => true));
  });

  it('start <host> starts what the host lacks and leaves what runs alone', async () => {
    const guard = await pidOf(t, 'hvb-guard');
    const b = await action(['start', t.dir, 'hvb']);
    expect(b.Processes.map((p) => [p.Name, p.Action])).to.deep.equal([['hvb-guard', 'already-running'], ['hvb-agent', 'started']]);
    expect(b.Processes[0]!.Pid).to.equal(guard);
    const a = await action(['start', t.dir, 'hva']);
    expect(a.Processes.map((p) => [p.Name, p.Action])).to.deep.equal([['hva-guard', 'started'], ['hva-agent', 'started']]);
  });

  it('stop ends every process and shuts the VMs down cleanly: no process of the lab is left, no pid file either', async () => {
    const out = await action(['stop', t.dir]);
    expect(out.Processes.map((p) => [p.Name, p.Action])).to.deep.equal([['hva-guard', 'stopped'], ['hvb-guard', 'stopped'], ['hva-agent', 'stopped'], ['hvb-agent', 'stopped'], ['witness', 'stopped']]);
    expect(out.Processes.every((p) => p.Pid !== null && !alive(p.Pid))).to.equal(true);
    for (const h of t.lab.Hosts) expect(await simulatedVmPids(h.SimDirectory), h.Name).to.deep.equal([]);
    expect(processesMentioning(t.dir), 'processes left').to.deep.equal([]);
    expect(readdirSync(join(t.dir, 'run'))).to.deep.equal([]);
    // A clean shutdown ends each VM's run with its stop marker: the last write is complete.
    expect(out.Vms.map((v) => v.Action)).to.include('shut-down');
    for (const v of out.Vms) {
      const log = readFileSync(join(t.dir, v.Host, 'sim', 'vms', v.VmId, 'disk-0.changes.jsonl'), 'utf8').trimEnd().split('\n');
      expect(JSON.parse(log[log.length - 1]!)).to.deep.equal({ t: 'E' });
    }
    const again = await action(['stop', t.dir]);
    expect(again.Processes.map((p) => p.Action)).to.deep.equal(names.map(() => 'not-running'));
  });
});

describe('vmmirror lab start of a process that cannot come up', function () {
  this.timeout(120_000);
  const rng = seeded('lab start failure');
  let t: LabUnderTest;
  before(async () => {
    process.stderr.write(`      lab seed ${rng.seed}\n`);
    t = await createTestLab(rng.seed, ['--vms', '1']);
  });
  after(() => t.cleanup());

  it('fails with AGENT_UNREACHABLE and the tail of the process\'s log, and leaves no pid file for it', async () => {
    const { writeFile } = await import('node:fs/promises');
    // A damaged cluster.json: the guard and the agent both refuse to start (CONFIG_INVALID, exit 3).
    await writeFile(join(t.dir, 'hva', 'config', 'cluster.json'), '{ "ClusterName": ');
    const r = await t.cli(['lab', 'start', t.dir, 'hva', '--json']);
    expect(r.exitCode, r.stdout + r.stderr).to.equal(7);
    const err = JSON.parse(r.stdout).Error;
    expect(err.Code).to.equal('AGENT_UNREACHABLE');
    expect(err.Message).to.match(/lab hva-(guard|agent) exited with code 3 before it was ready; last lines of .*hva-(guard|agent)\.log:/);
    expect(err.Message).to.contain('CONFIG_INVALID');
    expect(readdirSync(join(t.dir, 'run'))).to.deep.equal([]);
    expect(processesMentioning(t.dir)).to.deep.equal([]);
  });
});
