import { expect } from 'chai';
import { appendFile, readdir, readFile, realpath, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { hasCode, VmmirrorError } from '../../src/errors';
import { HookInput, HookReport, runHook } from '../../src/hooks';
import { run } from '../../src/util/exec';
import { pwshPath } from '../hypervisor/hyperv/pwsh';
import { decodeEcho, hookFixture, type HookFixture } from './fixture';

// Hooks on the real pwsh: the order the agent calls them in, the JSON they receive, what a failing
// pre hook and a failing post hook mean, a missing script, and a hostile module name.

async function thrown(p: Promise<unknown>): Promise<VmmirrorError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof VmmirrorError) return err;
    throw err;
  }
  throw new Error('expected an error');
}

describe('hooks on pwsh', function () {
  let f: HookFixture;
  beforeEach(async () => {
    f = await hookFixture();
  });
  afterEach(() => f.cleanup());

  it('runs the four hooks in the order they are called, relative paths from the config directory', async () => {
    const rel = 'hooks/Record-Call.ps1';
    const m = f.module({ preStart: rel, postStart: `./${rel}`, preStop: 'hooks/../hooks/Record-Call.ps1', postStop: join(f.hooksDir, 'Record-Call.ps1') });
    // A switchover as its owner sees it: stop here (pre, action, post), then start (on the peer).
    const record = (what: string) => async () => {
      await appendFile(join(f.hooksDir, 'calls.log'), `${what}\n`);
      return what;
    };
    const stop = await f.runner.around('Stop', m, 'switchover', { epoch: 4 }, record('stop the VM'));
    expect(stop.value).to.equal('stop the VM');
    expect(stop.pre).to.include({ ok: true, exitCode: 0, timedOut: false });
    expect(stop.post).to.include({ Ok: true, ExitCode: 0 });
    expect(await f.runner.pre('PreStart', m, 'failback', { epoch: 5 })).to.include({ ok: true });
    await record('start the VM')();
    const post = await f.runner.post('PostStart', m, 'failback', { epoch: 5 });
    expect(post).to.include({ Ok: true });
    expect(post!.StdoutTail.trim()).to.equal('recorded PostStart');
    expect(await f.calls()).to.deep.equal(['PreStop web1 switchover 4', 'stop the VM', 'PostStop web1 switchover 4', 'PreStart web1 failback 5', 'start the VM', 'PostStart web1 failback 5']);
    // A module without hooks runs nothing (and says so with null).
    const none = f.module({});
    expect(await f.runner.pre('PreStart', none, 'manual', { epoch: 1 })).to.equal(null);
    expect(await f.runner.post('PostStop', none, 'manual', { epoch: 1 })).to.equal(null);
  });

  it('hands a hostile module and VM name to the hook as plain data: one argument, decoded exactly, nothing run', async () => {
    // If any of this were executed as PowerShell, it would touch only this sandboxed HOME.
    const home = join(f.dir, 'home');
    await mkdir(home);
    await writeFile(join(home, 'canary.txt'), 'still here');
    const name = "x'; Remove-Item -Recurse $HOME; '$(whoami)";
    const vmName = `web\u2019; New-Item -ItemType File ${join(home, 'made-by-vmname')}; \u2018 "$(New-Item -ItemType File ${join(home, 'made-by-subexpr')})" \`$HOME ; | & \u00e9\u4e2d`;
    const m = f.module({ preStart: 'hooks/Write-Echo.ps1' }, name, vmName);
    const saved = process.env.HOME;
    process.env.HOME = home;
    let r;
    try {
      r = await f.runner.pre('PreStart', m, 'takeover', { epoch: 7, vmId: 'c0ffee00-0000-4000-8000-000000000001' });
    } finally {
      process.env.HOME = saved;
    }
    expect(r).to.include({ ok: true });
    const echo = decodeEcho(r!.stdoutTail);
    expect(echo.ArgumentCount).to.equal(1);
    expect(HookInput.parse(echo.Received)).to.deep.equal({
      Version: 1,
      Module: name,
      VmId: 'c0ffee00-0000-4000-8000-000000000001',
      VmName: vmName,
      Host: 'hva',
      Action: 'PreStart',
      Reason: 'takeover',
      Epoch: 7,
    });
    expect(JSON.parse(echo.Raw)).to.deep.equal(echo.Received);
    expect(echo.WorkingDirectory).to.equal(await realpath(f.dir));
    // pwsh keeps its own caches in HOME (.cache, .local); nothing else may appear there.
    expect((await readdir(home)).filter((n) => !n.startsWith('.'))).to.deep.equal(['canary.txt']);
    expect(await readFile(join(home, 'canary.txt'), 'utf8')).to.equal('still here');
  });

  it('a failing pre hook throws HOOK_FAILED with its exit code and reason; a failing post hook is reported and never throws', async () => {
    const m = f.module({ preStart: 'hooks/Exit-Failure.ps1', postStart: 'hooks/Exit-Failure.ps1' });
    let started = false;
    const err = await thrown(
      f.runner.around('Start', m, 'failover', { epoch: 2 }, async () => {
        started = true;
      }),
    );
    expect(started, 'the start ran although its PreStart hook failed').to.equal(false);
    expect(err.code).to.equal('HOOK_FAILED');
    expect(err.message).to.match(/^module web1: PreStart hook .*Exit-Failure\.ps1 exited with code 3 after \d+ ms: cannot drain: pool web is busy$/);
    const inDetails = HookReport.parse(err.details.Report);
    expect(inDetails).to.include({ Hook: 'PreStart', Ok: false, ExitCode: 3, TimedOut: false, Code: 'HOOK_FAILED' });
    expect(inDetails.StdoutTail.trim()).to.equal('checking the load balancer pool');

    const report = await f.runner.post('PostStart', m, 'failover', { epoch: 2 });
    expect(report).to.include({ Hook: 'PostStart', Ok: false, ExitCode: 3, Code: 'HOOK_FAILED' });
    expect(report!.Message).to.include('exited with code 3').and.include('cannot drain: pool web is busy');
    expect(report!.StderrTail.trim()).to.equal('cannot drain: pool web is busy');

    // A PreStop before an operator's stop only reports: the stop goes on.
    const stopping = await f.runner.reported('PreStop', f.module({ preStop: 'hooks/Exit-Failure.ps1' }), 'manual', { epoch: 2 });
    expect(stopping).to.include({ Hook: 'PreStop', Ok: false, ExitCode: 3, Code: 'HOOK_FAILED' });
  });

  it('a missing script is HOOK_NOT_FOUND at run time (pre: thrown, post: reported); a path out of the config directory is CONFIG_INVALID', async () => {
    const m = f.module({ preStop: 'hooks/Not-There.ps1', postStop: 'hooks/Not-There.ps1', preStart: '../outside/Escape.ps1' });
    const pre = await thrown(f.runner.pre('PreStop', m, 'drain', { epoch: 3 }));
    expect(pre.code).to.equal('HOOK_NOT_FOUND');
    expect(pre.message).to.equal(`module web1: Hooks.PreStop names ${join(f.dir, 'hooks', 'Not-There.ps1')}, which does not exist on this host`);
    expect(await f.runner.post('PostStop', m, 'drain', { epoch: 3 })).to.include({ Ok: false, Code: 'HOOK_NOT_FOUND', ExitCode: null });
    const escape = await thrown(f.runner.pre('PreStart', m, 'drain', { epoch: 3 }));
    expect(hasCode(escape, 'CONFIG_INVALID')).to.equal(true);
    expect(escape.message).to.include('must stay inside the config directory');
  });

  it('runs the template hook of docs/hooks.md as written', async () => {
    const doc = await readFile(join(__dirname, '..', '..', 'docs', 'hooks.md'), 'utf8');
    const block = /```powershell\n([\s\S]*?)```/.exec(doc);
    expect(block, 'docs/hooks.md has a powershell block').to.not.equal(null);
    await writeFile(join(f.hooksDir, 'Template.ps1'), block![1]!);
    const report = await f.runner.post('PostStart', f.module({ postStart: 'hooks/Template.ps1' }), 'failover', { epoch: 9 });
    expect(report).to.include({ Ok: true, ExitCode: 0 });
    expect(report!.StdoutTail.trim()).to.equal('PostStart web1 on hva (failover, epoch 9)');
    // Operators run hooks on Windows PowerShell 5.1: the template and the test hooks use only its syntax.
    const checked = await run(pwshPath(), ['-NoProfile', '-NonInteractive', '-File', join(__dirname, '..', 'ps', 'Find-PsIncompatibility.ps1'), '-Root', f.hooksDir], { timeoutMs: 60_000 });
    expect(checked.exitCode, checked.stderr).to.equal(0);
    const found = JSON.parse(checked.stdout) as { Files: string[]; Findings: unknown[] };
    expect(found.Files).to.have.length(6);
    expect(found.Findings).to.deep.equal([]);
  });

  it('a PowerShell that cannot be started fails the hook (pre throws HOOK_FAILED saying so)', async () => {
    const m = f.module({ preStart: 'hooks/Record-Call.ps1' });
    const r = await runHook('PreStart', m, { configDir: f.dir, host: 'hva', reason: 'manual', facts: { epoch: 1 } }, { executable: join(f.dir, 'no-such-pwsh') });
    expect(r).to.include({ ok: false, exitCode: null, timedOut: false });
    expect(r!.spawnError).to.match(/ENOENT|no-such-pwsh/);
    expect(await f.calls()).to.deep.equal([]);
    expect(pwshPath()).to.be.a('string');
  });
});
