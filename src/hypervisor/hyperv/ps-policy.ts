// The execution-policy check run once per PowerShell session, right after the prelude.
// `-ExecutionPolicy Bypass` sets only the Process scope; a Group Policy (MachinePolicy, then
// UserPolicy) outranks it. Under AllSigned every script must carry a valid Authenticode signature
// and under Restricted no script runs at all, so vmmirror's ps/ scripts would fail one by one with a
// PowerShell error that says nothing about the cause. Detected here, it is one EXECUTION_POLICY
// error naming the policy, its scope, the scripts that would be refused and the remedy
// (docs/hyperv-driver.md, "Execution policy").
import { resolve } from 'node:path';
import { z } from 'zod';
import { HypervisorError } from '../../errors';

const BASE64 = /^[A-Za-z0-9+/=]*$/;

function b64(text: string): string {
  const out = Buffer.from(text, 'utf8').toString('base64');
  if (!BASE64.test(out)) throw new Error('unreachable: base64 produced a non-base64 character');
  return out;
}

export const policyRemedy =
  "sign vmmirror's ps/ scripts with the organisation's code-signing certificate " +
  '(ps/tools/Set-MirrorScriptSignature.ps1, or the one-line Set-AuthenticodeSignature command in docs/hyperv-driver.md), ' +
  'or have the Group Policy "Turn on Script Execution" allow them; Restricted allows no script at all';

/**
 * PowerShell source for the check: constant text plus the script folders as base64 JSON. Bare
 * `Get-ExecutionPolicy` on purpose: the tests shadow it to report a Group Policy.
 * Windows PowerShell 5.1 syntax only.
 */
export function policyCheckCommand(scriptDirs: string[]): string {
  const dirs = b64(JSON.stringify(scriptDirs.map((d) => resolve(d))));
  return (
    `try { $gpo = $null; $list = @(Get-ExecutionPolicy -List); ` +
    `foreach ($scope in @('MachinePolicy', 'UserPolicy')) { foreach ($e in $list) { ` +
    `if ($null -eq $gpo -and $e.Scope.ToString() -eq $scope -and $e.ExecutionPolicy.ToString() -ne 'Undefined') { $gpo = @{ Scope = $scope; Policy = $e.ExecutionPolicy.ToString() } } } } ` +
    `$refused = New-Object System.Collections.ArrayList; ` +
    `if ($null -ne $gpo -and @('AllSigned', 'RemoteSigned', 'Restricted') -contains $gpo.Policy) { ` +
    `$dirs = ConvertFrom-Json -InputObject ([System.Text.Encoding]::UTF8.GetString([System.Convert]::FromBase64String('${dirs}'))); ` +
    `$canCheck = $null -ne (Get-Command -Name Get-AuthenticodeSignature -ErrorAction SilentlyContinue); ` +
    `foreach ($d in @($dirs)) { foreach ($f in @(Get-ChildItem -LiteralPath $d -Recurse -File -ErrorAction SilentlyContinue | Where-Object { @('.ps1', '.psm1', '.psd1') -contains $_.Extension })) { ` +
    `$signed = $false; if ($canCheck) { $signed = (Get-AuthenticodeSignature -LiteralPath $f.FullName).Status.ToString() -eq 'Valid' }; ` +
    `$blocked = $gpo.Policy -eq 'Restricted'; ` +
    `if ($gpo.Policy -eq 'AllSigned' -and -not $signed) { $blocked = $true }; ` +
    // RemoteSigned refuses only unsigned files marked as downloaded (an NTFS Zone.Identifier stream: a copied zip).
    `if ($gpo.Policy -eq 'RemoteSigned' -and -not $signed) { try { if ($null -ne (Get-Item -LiteralPath $f.FullName -Stream Zone.Identifier -ErrorAction Stop)) { $blocked = $true } } catch { } }; ` +
    `if ($blocked) { [void]$refused.Add($f.FullName) } } } }; ` +
    `$scopeOut = $null; $policyOut = $null; if ($null -ne $gpo) { $scopeOut = $gpo.Scope; $policyOut = $gpo.Policy }; ` +
    `[Console]::Out.WriteLine((ConvertTo-Json -Compress -Depth 4 -InputObject @{ Ok = $true; Result = @{ Scope = $scopeOut; Policy = $policyOut; Refused = @($refused.ToArray()) } })) } ` +
    `catch { [Console]::Out.WriteLine('{"Ok":false}'); [Console]::Error.WriteLine($_.Exception.Message) }`
  );
}

const PolicyReply = z.object({
  Ok: z.literal(true),
  Result: z.object({ Scope: z.string().nullable(), Policy: z.string().nullable(), Refused: z.array(z.string()) }),
});

/** Throws EXECUTION_POLICY when the check's reply says the policy refuses any of our scripts. */
export function checkPolicyReply(stdout: string): void {
  const line = stdout.split(/\r?\n/).find((l) => l.startsWith('{'));
  const parsed = line === undefined ? undefined : PolicyReply.safeParse(JSON.parse(line));
  if (parsed === undefined || !parsed.success) {
    throw new HypervisorError('PS_SESSION_DIED', 'the execution-policy check at session start gave no valid answer', {
      details: { output: stdout.slice(0, 2000) },
    });
  }
  const { Scope, Policy, Refused } = parsed.data.Result;
  if (Refused.length === 0) return;
  throw new HypervisorError(
    'EXECUTION_POLICY',
    `the ${Policy} execution policy set by Group Policy (${Scope}) outranks -ExecutionPolicy Bypass and refuses ${Refused.length} of vmmirror's scripts (e.g. ${Refused[0]}): ${policyRemedy}`,
    { details: { scope: Scope, policy: Policy, refusedScripts: Refused.slice(0, 20), refusedCount: Refused.length, remedy: policyRemedy } },
  );
}
