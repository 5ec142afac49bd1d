import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { hasCode } from '../../../src/errors';
import { run } from '../../../src/util/exec';
import { PsRunner } from '../../../src/hypervisor/hyperv/ps-runner';
import { psDir, pwshPath, repoRoot } from './pwsh';

// Issue 12 item 7: -ExecutionPolicy Bypass sets only the Process scope; a Group Policy of AllSigned
// (or Restricted) outranks it and refuses the unsigned ps/ scripts. The runner checks at session
// start and fails with EXECUTION_POLICY and the remedy. The Group Policy is simulated by a module
// the prelude imports that makes Get-ExecutionPolicy -List report it (test/hypervisor/hyperv/policy/).

const gpoHook = join(repoRoot, 'test', 'hypervisor', 'hyperv', 'policy', 'GpoExecutionPolicy.psm1');
const testScripts = join(repoRoot, 'test', 'hypervisor', 'hyperv', 'scripts');
const Home = z.object({ Home: z.string(), EnvHome: z.string() });
const T = { timeoutMs: 30_000 };

/** The files the session's check judges: every .ps1, .psm1 and .psd1 under `dir`. */
function scriptFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ps1|psm1|psd1)$/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

function runnerWith(gpo: string): PsRunner {
  return new PsRunner({ executable: pwshPath(), scriptDirs: [psDir, testScripts], importModules: [gpoHook], env: { VMMIRROR_TEST_GPO: gpo } });
}

async function expectPolicyError(p: Promise<unknown>): Promise<{ message: string; details: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    expect(hasCode(err, 'EXECUTION_POLICY'), `expected EXECUTION_POLICY, got ${String(err)}`).to.equal(true);
    return { message: (err as Error).message, details: (err as { details: Record<string, unknown> }).details };
  }
  return expect.fail('expected EXECUTION_POLICY, but the call succeeded');
}

describe('src/hypervisor/hyperv/ps-runner: Group Policy execution policy', function () {
  this.timeout(120_000);

  for (const gpo of ['MachinePolicy=AllSigned', 'UserPolicy=AllSigned', 'MachinePolicy=Restricted;UserPolicy=Unrestricted']) {
    it(`fails the session start with EXECUTION_POLICY and the remedy under ${gpo}, and leaves no session running`, async () => {
      const runner = runnerWith(gpo);
      try {
        const [scope, policy] = gpo.split(';')[0]!.split('=');
        const e = await expectPolicyError(runner.invoke('Get-TestHome', {}, Home, T));
        expect(e.details.scope).to.equal(scope);
        expect(e.details.policy).to.equal(policy);
        // Every script of ours is refused, and the details name the first 20 (the order is the file system's).
        const ours = [...scriptFiles(psDir), ...scriptFiles(testScripts)];
        expect(ours).to.include(join(psDir, 'Private', 'MirrorCommon.ps1'));
        expect(e.details.refusedCount).to.equal(ours.length);
        expect(e.details.refusedScripts).to.have.length(Math.min(20, ours.length));
        for (const f of e.details.refusedScripts as string[]) expect(ours, f).to.include(f);
        expect(e.message).to.include('Set-MirrorScriptSignature.ps1');
        expect(runner.sessionPid()).to.equal(null);
        // Every later call says the same (a new session, checked again), never a PowerShell parse error.
        await expectPolicyError(runner.invoke('Get-TestHome', {}, Home, T));
      } finally {
        await runner.close();
      }
    });
  }

  it('starts normally when the Group Policy is Undefined, Unrestricted, or RemoteSigned on local (not downloaded) scripts', async () => {
    for (const gpo of ['', 'MachinePolicy=Unrestricted', 'UserPolicy=RemoteSigned', 'MachinePolicy=Undefined;UserPolicy=Bypass']) {
      const runner = runnerWith(gpo);
      try {
        const r = await runner.invoke('Get-TestHome', {}, Home, T);
        expect(r.Home, gpo).to.be.a('string');
      } finally {
        await runner.close();
      }
    }
  });

  it('has a signing tool that covers every script the runner loads (listed here; Authenticode itself needs Windows)', async () => {
    const tool = join(psDir, 'tools', 'Set-MirrorScriptSignature.ps1');
    const r = await run(pwshPath(), ['-NoProfile', '-NonInteractive', '-Command', `& '${tool}' -ListOnly | ConvertTo-Json -Depth 3 -Compress`], { timeoutMs: 60_000 });
    expect(r.exitCode, r.stderr).to.equal(0);
    const listed = z.array(z.object({ Path: z.string(), Status: z.string() })).parse(JSON.parse(r.stdout)).map((f) => f.Path);
    for (const f of ['Get-MirrorVm.ps1', 'Get-MirrorDiskChange.ps1', join('Private', 'MirrorCommon.ps1'), join('tools', 'Set-MirrorScriptSignature.ps1')]) {
      expect(listed).to.include(join(psDir, f));
    }
    const signing = await run(pwshPath(), ['-NoProfile', '-NonInteractive', '-File', tool, '-Thumbprint', 'AB'], { timeoutMs: 60_000 });
    expect(signing.exitCode).to.not.equal(0);
    expect(signing.stderr + signing.stdout).to.include('only available on Windows');
  });
});
