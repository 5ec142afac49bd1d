// Which PowerShell runs the operator's hooks. The same one that runs vmmirror's own ps/ scripts:
// a hook written for the host's Hyper-V driver sees the same PowerShell (and modules) as it does.

export interface ExecutableSources {
  /** cluster.json Hypervisor.Options (the Hyper-V driver's `executable`, when set). */
  hypervisorOptions?: Record<string, unknown>;
  platform?: NodeJS.Platform;
  env?: NodeJS.ProcessEnv;
}

/**
 * In order: the Hyper-V driver's configured `executable`; on Windows `powershell.exe` (Windows
 * PowerShell 5.1 is on every Hyper-V host, as the driver assumes); elsewhere (tests, the lab)
 * VMMIRROR_PWSH, then `pwsh` from PATH.
 */
export function hookExecutable(s: ExecutableSources = {}): string {
  const configured = s.hypervisorOptions?.executable;
  if (typeof configured === 'string' && configured.length > 0) return configured;
  if ((s.platform ?? process.platform) === 'win32') return 'powershell.exe';
  const fromEnv = (s.env ?? process.env).VMMIRROR_PWSH;
  return fromEnv !== undefined && fromEnv.length > 0 ? fromEnv : 'pwsh';
}
