import { expect } from 'chai';
import { join } from 'node:path';
import { z } from 'zod';
import { run } from '../../src/util/exec';
import { pesterPath, pwshPath } from '../hypervisor/hyperv/pwsh';

// Runs the Pester tests of the scheduled-task scripts (test/ps/task/*.Tests.ps1) on real pwsh against
// the mock ScheduledTasks module. Kept out of test/ps/*.Tests.ps1 (pester.test.ts) so each suite
// loads only the mock it needs.

const Summary = z.object({
  Passed: z.number(),
  Failed: z.number(),
  Tests: z.array(z.object({ Name: z.string(), Result: z.string(), Error: z.string() })),
  BrokenContainers: z.array(z.object({ Path: z.string(), Result: z.string(), Error: z.string() })),
});

const runner = `
param([string]$PesterPath, [string]$Dir)
$ErrorActionPreference = 'Stop'
Import-Module $PesterPath -Force
$config = New-PesterConfiguration
$config.Run.Path = @(Get-ChildItem -LiteralPath $Dir -Filter '*.Tests.ps1' | ForEach-Object { $_.FullName })
$config.Run.PassThru = $true
$config.Output.Verbosity = 'None'
$r = Invoke-Pester -Configuration $config
$tests = @($r.Tests | ForEach-Object {
    $err = ''
    if ($_.ErrorRecord) { $err = (@($_.ErrorRecord) | ForEach-Object { $_.ToString() }) -join '; ' }
    @{ Name = $_.ExpandedPath; Result = [string]$_.Result; Error = $err }
})
$containers = @($r.Containers | Where-Object { @($_.ErrorRecord).Count -gt 0 -or $_.Result -eq 'NotRun' } | ForEach-Object { @{ Path = [string]$_.Item; Result = [string]$_.Result; Error = (@($_.ErrorRecord) | ForEach-Object { $_.ToString() }) -join '; ' } })
Write-Output (ConvertTo-Json -InputObject @{ Passed = $r.PassedCount; Failed = $r.FailedCount; Tests = $tests; BrokenContainers = $containers } -Depth 5 -Compress)
`;

describe('ps/ scheduled task scripts (Pester, mock ScheduledTasks module)', function () {
  this.timeout(120_000);

  it('registers, updates, keeps idempotent, uninstalls and keeps paths as data', async () => {
    const script = `& { ${runner} } -PesterPath $env:VMMIRROR_PESTER -Dir $env:VMMIRROR_TASK_TESTS`;
    const r = await run(pwshPath(), ['-NoProfile', '-NonInteractive', '-Command', script], {
      timeoutMs: 110_000,
      env: {
        ...process.env,
        TERM: 'dumb',
        NO_COLOR: '1',
        VMMIRROR_PESTER: pesterPath(),
        VMMIRROR_TASK_TESTS: join(__dirname, 'task'),
        VMMIRROR_TEST_NODE: process.execPath,
      },
    });
    const line = r.stdout.split(/\r?\n/).find((l) => l.startsWith('{'));
    if (line === undefined) throw new Error(`Pester wrote no summary (exit ${r.exitCode}): ${r.stdout}\n${r.stderr}`);
    const s = Summary.parse(JSON.parse(line));
    expect(s.BrokenContainers, JSON.stringify(s.BrokenContainers)).to.deep.equal([]);
    const failed = s.Tests.filter((t) => t.Result !== 'Passed');
    expect(failed, JSON.stringify(failed, null, 2)).to.deep.equal([]);
    expect(s.Passed).to.equal(11);
  });
});
