import { expect } from 'chai';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LabHostName, LabModule } from '../../src/lab/schema';
import { vmmirror } from '../cli/vmmirror-process';
import { pwshPath } from '../hypervisor/hyperv/pwsh';
import { netnsAvailable, requireNetnsOrSkip } from '../helpers/netns';
import { seeded } from '../helpers/seed';
import { clusterUnderTest, type ClusterUnderTest } from './cluster';
import { other, setAgentSetting, waitPlacement, waitSteady } from './steps';

// The hooks of a planned switchover (docs/hooks.md), real pwsh scripts on real agents: the host
// that will run the VM runs PreStart BEFORE it asks the owner to stop (a refusal after would leave
// the VM running nowhere), the owner PreStop before its stop and PostStop after the handover, then
// PostStart follows the start. A failing PreStart (new host) or PreStop (owner) moves nothing.

type ErrorDoc = { Error: { Code: string; Message: string } };

// Appends "<Host> <Action> <Reason> <Epoch> ok|fail" to calls.log next to itself; fails (exit 3)
// while a file fail-<Action>-<Host> exists there, so the test can turn a hook's refusal on and off.
const RECORD_HOST = `param([Parameter(Mandatory = $true)][string]$InputBase64)
$ErrorActionPreference = 'Stop'
$text = [System.Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($InputBase64))
$call = ConvertFrom-Json -InputObject $text
$fail = Test-Path -LiteralPath (Join-Path $PSScriptRoot ('fail-{0}-{1}' -f $call.Action, $call.Host))
$outcome = 'ok'
if ($fail) { $outcome = 'fail' }
Add-Content -LiteralPath (Join-Path $PSScriptRoot 'calls.log') -Value ('{0} {1} {2} {3} {4}' -f $call.Host, $call.Action, $call.Reason, $call.Epoch, $outcome) -Encoding UTF8
if ($fail) { [Console]::Error.WriteLine('refused by the test'); exit 3 }
exit 0
`;

describe('cluster e2e: hooks around a planned switchover (PreStart before the ask, PreStop/PostStop on the owner, PostStart after the start)', function () {
  this.timeout(300_000);
  const rnd = seeded('cluster-e2e hooks');
  let c: ClusterUnderTest;
  let m: LabModule;
  let hooksDir: string;
  const cli = (h: LabHostName, args: string[]) => vmmirror([...args, '--dir', c.lab.Hosts.find((x) => x.Name === h)!.ConfigDirectory, '--json']);
  const calls = async (): Promise<string[]> => (await readFile(join(hooksDir, 'calls.log'), 'utf8').catch(() => '')).split(/\r?\n/).map((l) => l.replace(/^\uFEFF/, '')).filter((l) => l.length > 0);
  const since = async (mark: number, want: number): Promise<string[]> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const lines = (await calls()).slice(mark);
      if (lines.length >= want || Date.now() > deadline) return lines;
      await sleep(100);
    }
  };
  const epochOn = async (h: LabHostName): Promise<number> => (await c.status(h)).Modules[0]!.Epoch ?? 0;
  const waitRoles = async (on: LabHostName): Promise<void> => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const [a, b] = await Promise.all([c.status(on).then((d) => d.Modules[0]!).catch(() => null), c.status(other(on)).then((d) => d.Modules[0]!).catch(() => null)]);
      if (a?.State === 'PRIM' && a.PeerState === 'SECOND' && b?.State === 'SECOND' && b.PeerState === 'PRIM' && b.PeerVmActivity === 'running') return;
      if (Date.now() > deadline) throw new Error(`not PRIM on ${on} / SECOND on ${other(on)}: ${JSON.stringify([a?.State, b?.State])}`);
      await sleep(200);
    }
  };
  const refusedMove = async (args: string[]): Promise<ErrorDoc['Error']> => {
    const t = performance.now();
    const r = await cli('hva', args);
    expect(r.exitCode, r.stdout + r.stderr).to.not.equal(0);
    await sleep(1000);
    expect(c.sampler.changes(m.VmId, t), 'the VM never moved').to.deep.equal([]);
    expect(c.sampler.runningNow(m.VmId)).to.deep.equal(['hvb']);
    return (JSON.parse(r.stdout) as ErrorDoc).Error;
  };

  before(async function () {
    if (!netnsAvailable()) return requireNetnsOrSkip(this);
    process.stderr.write(`      seed ${rnd.seed}\n`);
    c = await clusterUnderTest({ vms: 1, seed: rnd.seed, failback: 'manual' });
    m = c.lab.Modules[0]!;
    await setAgentSetting(c, 'FailbackStableSeconds', 2);
    hooksDir = join(c.root, 'hooks');
    await mkdir(hooksDir, { recursive: true });
    const script = join(hooksDir, 'Record-Host.ps1');
    await writeFile(script, RECORD_HOST);
    // The same absolute script on both hosts (one shared log): the order across hosts is visible.
    for (const h of c.lab.Hosts) {
      const file = join(h.ConfigDirectory, 'modules', `${m.Name}.json`);
      const doc = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
      await writeFile(file, JSON.stringify({ ...doc, Hooks: { PreStart: script, PostStart: script, PreStop: script, PostStop: script, TimeoutSeconds: 30 } }, null, 2));
    }
    process.env.VMMIRROR_PWSH = pwshPath();
    c.sampler.start();
    await c.startAll();
    await waitSteady(c, 'lab start', 90_000);
    await waitRoles('hva');
  });
  after(async () => c?.cleanup());

  it('the first start on the default primary ran PreStart and PostStart there (reason failover)', async () => {
    const lines = await since(0, 2);
    expect(lines.slice(0, 2).map((l) => l.split(' ').slice(0, 3).join(' ')).concat(lines.slice(0, 2).map((l) => l.split(' ')[4]!))).to.deep.equal(['hva PreStart failover', 'hva PostStart failover', 'ok', 'ok']);
  });

  it('failover hva -> hvb: hvb PreStart before hva PreStop, hva PostStop after the handover, hvb PostStart after the start (reason switchover)', async () => {
    const mark = (await calls()).length;
    const e = await epochOn('hva');
    const r = await cli('hvb', ['failover', m.Name]);
    expect(r.exitCode, r.stdout + r.stderr).to.equal(0);
    await waitPlacement(c, new Map([[m.VmId, 'hvb']]), 'on hvb', 10_000);
    const lines = await since(mark, 4);
    expect(lines.filter((l) => l.startsWith('hvb'))).to.deep.equal([`hvb PreStart switchover ${e + 1} ok`, `hvb PostStart switchover ${e + 1} ok`]);
    expect(lines.filter((l) => l.startsWith('hva'))).to.deep.equal([`hva PreStop switchover ${e} ok`, `hva PostStop switchover ${e + 1} ok`]);
    expect(lines.indexOf(`hvb PreStart switchover ${e + 1} ok`), 'PreStart before the owner is asked to stop').to.be.lessThan(lines.indexOf(`hva PreStop switchover ${e} ok`));
    await waitRoles('hvb');
  });

  it('a failing PreStart on the pulling host (hva) refuses the failback before anything stops: HANDOVER_FAILED, the VM stays on hvb', async () => {
    const mark = (await calls()).length;
    const e = await epochOn('hva');
    await writeFile(join(hooksDir, 'fail-PreStart-hva'), '');
    try {
      const err = await refusedMove(['failback', m.Name]);
      expect(err.Code, err.Message).to.equal('HANDOVER_FAILED');
      expect(err.Message).to.match(/step "pre-start hook".*refused by the test.*nothing moved, the VM runs on hvb/);
    } finally {
      await rm(join(hooksDir, 'fail-PreStart-hva'));
    }
    expect((await calls()).slice(mark)).to.deep.equal([`hva PreStart failback ${e + 1} fail`]);
  });

  it('a failing PreStop on the owner (hvb) refuses the failback before its stop: HANDOVER_FAILED, the VM stays on hvb', async () => {
    await waitRoles('hvb');
    const mark = (await calls()).length;
    const e = await epochOn('hva');
    await writeFile(join(hooksDir, 'fail-PreStop-hvb'), '');
    try {
      const err = await refusedMove(['failback', m.Name]);
      expect(err.Code, err.Message).to.equal('HANDOVER_FAILED');
      expect(err.Message).to.match(/step "pre-stop hook".*refused by the test.*the VM runs on hvb/);
    } finally {
      await rm(join(hooksDir, 'fail-PreStop-hvb'));
    }
    expect((await calls()).slice(mark)).to.deep.equal([`hva PreStart failback ${e + 1} ok`, `hvb PreStop failback ${e} fail`]);
  });

  it('with both passing again, the failback brings it home (reason failback, the same order)', async () => {
    await waitRoles('hvb');
    const mark = (await calls()).length;
    const e = await epochOn('hva');
    const r = await cli('hva', ['failback', m.Name]);
    expect(r.exitCode, r.stdout + r.stderr).to.equal(0);
    await waitPlacement(c, new Map([[m.VmId, 'hva']]), 'home on hva', 10_000);
    const lines = await since(mark, 4);
    expect(lines.filter((l) => l.startsWith('hva'))).to.deep.equal([`hva PreStart failback ${e + 1} ok`, `hva PostStart failback ${e + 1} ok`]);
    expect(lines.filter((l) => l.startsWith('hvb'))).to.deep.equal([`hvb PreStop failback ${e} ok`, `hvb PostStop failback ${e + 1} ok`]);
  });
});
