// The only PowerShell source vmmirror ever sends: constant text plus base64 ([A-Za-z0-9+/=]).
// A script path, a module path or an input value reaches PowerShell only as base64, decoded there.
import { resolve } from 'node:path';

const BASE64 = /^[A-Za-z0-9+/=]*$/;

function b64(text: string): string {
  const out = Buffer.from(text, 'utf8').toString('base64');
  if (!BASE64.test(out)) throw new Error('unreachable: base64 produced a non-base64 character');
  return out;
}

/** PowerShell source that yields the UTF-8 string whose base64 is given (the only way data enters). */
function decodeExpr(text: string): string {
  return `([System.Text.Encoding]::UTF8.GetString([System.Convert]::FromBase64String('${b64(text)}')))`;
}

/** The exact line sent to PowerShell to run a script: only base64 text is interpolated. */
export function scriptCommand(scriptPath: string, input: object): string {
  return `& ${decodeExpr(scriptPath)} -InputBase64 '${b64(JSON.stringify(input))}'`;
}

/** Run once per session: quiet progress, UTF-8 output, injected modules, then report the real $PID. */
export function preludeCommand(importModules: string[]): string {
  const imports = importModules
    .map((p) => `Import-Module -Name ${decodeExpr(resolve(p))} -Force -DisableNameChecking -WarningAction SilentlyContinue;`)
    .join(' ');
  return (
    `try { $ProgressPreference = 'SilentlyContinue'; ` +
    `[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding($false); ${imports} ` +
    `[Console]::Out.WriteLine('{"Ok":true,"Result":{"Pid":' + $PID + '}}') } ` +
    `catch { [Console]::Out.WriteLine('{"Ok":false,"Error":{"Code":"PS_SESSION_DIED","Message":"prelude failed"}}'); [Console]::Error.WriteLine($_.Exception.Message) }`
  );
}
