import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { hasCode, type ErrorCode } from '../../../src/errors';
import { PsRunner } from '../../../src/hypervisor/hyperv/ps-runner';
import { psDir, pwshPath } from './pwsh';

// The PowerShell channel on real pwsh: replies, protocol violations, timeouts, a session that dies.

const testScripts = join(__dirname, 'scripts');
const Sleep = z.object({ Start: z.number(), End: z.number(), Echo: z.unknown(), Pid: z.number() });
const A = z.object({ A: z.number() });

async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    expect(hasCode(err, code), `expected ${code}, got ${String(err)}`).to.equal(true);
    return (err as { details: Record<string, unknown> }).details;
  }
  return expect.fail(`expected ${code}, but the call succeeded`);
}

/** True when the process exists and is not a zombie. */
function isAlive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('src/hypervisor/hyperv/ps-runner', function () {
  this.timeout(60_000);
  let runner: PsRunner;
  before(() => {
    runner = new PsRunner({ executable: pwshPath(), scriptDirs: [psDir, testScripts] });
  });
  after(async () => runner?.close());

  it('passes input as data and returns the validated result', async () => {
    const echo = { text: "x'; Remove-Item -Recurse -Force $HOME; ' ‘’‚‛ –— $(whoami) `n", nested: [1, { a: null }] };
    const r = await runner.invoke('Invoke-TestSleep', { Echo: echo }, Sleep, { timeoutMs: 20_000 });
    expect(r.Echo).to.deep.equal(echo);
    expect(runner.sessionPid()).to.equal(r.Pid);
  });

  it('runs calls one at a time in one session', async () => {
    const calls = [0, 1, 2].map((i) => runner.invoke('Invoke-TestSleep', { SleepMs: 150, Echo: i }, Sleep, { timeoutMs: 20_000 }));
    const results = (await Promise.all(calls)).sort((a, b) => a.Start - b.Start);
    expect(new Set(results.map((r) => r.Pid)).size).to.equal(1);
    for (let i = 1; i < results.length; i++) expect(results[i]!.Start).to.be.at.least(results[i - 1]!.End);
  });

  it('ignores stray output and stderr around the one reply', async () => {
    expect(await runner.invoke('Write-TestReply', { Kind: 'stray' }, A, { timeoutMs: 20_000 })).to.deep.equal({ A: 3 });
    expect(await runner.invoke('Write-TestReply', { Kind: 'stderr' }, A, { timeoutMs: 20_000 })).to.deep.equal({ A: 4 });
  });

  it('fails with PS_PROTOCOL when a script writes no reply, two replies, broken JSON or the wrong shape', async () => {
    for (const kind of ['none', 'two', 'badjson', 'wrongshape']) {
      await expectCode(runner.invoke('Write-TestReply', { Kind: kind }, A, { timeoutMs: 20_000 }), 'PS_PROTOCOL');
    }
    await expectCode(runner.invoke('No-SuchScript', {}, A, { timeoutMs: 20_000 }), 'PS_PROTOCOL');
    await expectCode(runner.invoke("x'; Get-Process; '", {}, A, { timeoutMs: 20_000 }), 'PS_PROTOCOL');
  });

  it('maps script error codes to typed errors, unknown codes and platform errors to HYPERVISOR_ERROR', async () => {
    for (const code of ['VM_NOT_FOUND', 'VM_AMBIGUOUS', 'VM_WRONG_STATE', 'VM_TIMEOUT', 'VM_INCOMPATIBLE', 'RCT_UNAVAILABLE'] as const) {
      const d = await expectCode(runner.invoke('Write-TestReply', { Kind: 'code', Code: code }, A, { timeoutMs: 20_000 }), code);
      expect(d.scriptDetails).to.deep.equal({ X: 1 });
    }
    const unknown = await expectCode(runner.invoke('Write-TestReply', { Kind: 'code', Code: 'SOMETHING_NEW' }, A, { timeoutMs: 20_000 }), 'HYPERVISOR_ERROR');
    expect(unknown.scriptCode).to.equal('SOMETHING_NEW');
    const platform = await expectCode(runner.invoke('Write-TestReply', { Kind: 'platform' }, A, { timeoutMs: 20_000 }), 'HYPERVISOR_ERROR');
    expect(String(platform.platformMessage)).to.include('/definitely/not/here');
  });

  it('kills a call that exceeds its timeout (PS_TIMEOUT), and the next call works in a new session', async () => {
    const before = (await runner.invoke('Invoke-TestSleep', {}, Sleep, { timeoutMs: 20_000 })).Pid;
    const started = Date.now();
    await expectCode(runner.invoke('Invoke-TestSleep', { SleepMs: 30_000 }, Sleep, { timeoutMs: 500 }), 'PS_TIMEOUT');
    expect(Date.now() - started).to.be.below(10_000);
    expect(isAlive(before), 'the hung session was killed').to.equal(false);
    const after = await runner.invoke('Invoke-TestSleep', { Echo: 'again' }, Sleep, { timeoutMs: 20_000 });
    expect(after.Echo).to.equal('again');
    expect(after.Pid).to.not.equal(before);
  });

  it('reports PS_SESSION_DIED when the session is killed mid-call, and the next call works', async () => {
    const pid = (await runner.invoke('Invoke-TestSleep', {}, Sleep, { timeoutMs: 20_000 })).Pid;
    const call = runner.invoke('Invoke-TestSleep', { SleepMs: 20_000 }, Sleep, { timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 300));
    process.kill(pid, 'SIGKILL');
    await expectCode(call, 'PS_SESSION_DIED');
    const next = await runner.invoke('Invoke-TestSleep', { Echo: 'alive' }, Sleep, { timeoutMs: 20_000 });
    expect(next.Echo).to.equal('alive');
    expect(next.Pid).to.not.equal(pid);
  });

  it('reports PS_SESSION_DIED when a script ends the process, and starts a new session for the next call', async () => {
    await expectCode(runner.invoke('Write-TestReply', { Kind: 'exit' }, A, { timeoutMs: 20_000 }), 'PS_SESSION_DIED');
    expect((await runner.invoke('Write-TestReply', { Kind: 'stray' }, A, { timeoutMs: 20_000 })).A).to.equal(3);
  });

  it('starts a new session when the old one died between calls', async () => {
    const pid = (await runner.invoke('Invoke-TestSleep', {}, Sleep, { timeoutMs: 20_000 })).Pid;
    process.kill(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    const next = await runner.invoke('Invoke-TestSleep', { Echo: 'fresh' }, Sleep, { timeoutMs: 20_000 });
    expect(next.Echo).to.equal('fresh');
    expect(next.Pid).to.not.equal(pid);
  });

  it('uses the configured executable even when NODE_POWERSHELL names another', async () => {
    const other = new PsRunner({ executable: pwshPath(), scriptDirs: [psDir, testScripts] });
    const saved = process.env.NODE_POWERSHELL;
    process.env.NODE_POWERSHELL = '/nonexistent/powershell';
    try {
      expect((await other.invoke('Invoke-TestSleep', { Echo: 1 }, Sleep, { timeoutMs: 20_000 })).Echo).to.equal(1);
    } finally {
      if (saved === undefined) delete process.env.NODE_POWERSHELL;
      else process.env.NODE_POWERSHELL = saved;
      await other.close();
    }
  });

  it('replaces the session after maxCallsPerSession calls', async () => {
    const short = new PsRunner({ executable: pwshPath(), scriptDirs: [psDir, testScripts], maxCallsPerSession: 2 });
    try {
      const pids: number[] = [];
      for (let i = 0; i < 3; i++) pids.push((await short.invoke('Invoke-TestSleep', {}, Sleep, { timeoutMs: 20_000 })).Pid);
      expect(pids[0]).to.equal(pids[1]);
      expect(pids[2]).to.not.equal(pids[1]);
      expect(isAlive(pids[0]!), 'the retired session ended').to.equal(false);
    } finally {
      await short.close();
    }
  });

  it('fails with PS_SESSION_DIED when PowerShell cannot be started', async () => {
    const broken = new PsRunner({ executable: '/nonexistent/pwsh', scriptDirs: [psDir, testScripts], startTimeoutMs: 5000 });
    try {
      await expectCode(broken.invoke('Invoke-TestSleep', {}, Sleep, { timeoutMs: 5000 }), 'PS_SESSION_DIED');
    } finally {
      await broken.close();
    }
  });
});
