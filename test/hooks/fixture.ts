import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResolvedModule } from '../../src/config';
import { HookRunner } from '../../src/hooks';
import { pwshPath } from '../hypervisor/hyperv/pwsh';
import { tempDir } from '../helpers/tmp';

// A config directory holding the test hooks (test/hooks/scripts) under hooks/, a module that names
// them, and a HookRunner on the real pwsh the test setup installs.

export const SCRIPTS = join(__dirname, 'scripts');

export interface HookFixture {
  dir: string;
  hooksDir: string;
  runner: HookRunner;
  cleanup(): Promise<void>;
  /** A module whose hooks are `hooks` (paths as a module file would give them). */
  module(hooks: ResolvedModule['hooks'], name?: string, vmName?: string): ResolvedModule;
  /** The lines Record-Call.ps1 appended, in order. */
  calls(): Promise<string[]>;
}

export async function hookFixture(): Promise<HookFixture> {
  const { dir, cleanup } = await tempDir('vmmirror-hooks-');
  const hooksDir = join(dir, 'hooks');
  await mkdir(hooksDir);
  for (const f of ['Record-Call.ps1', 'Write-Echo.ps1', 'Exit-Failure.ps1', 'Wait-Forever.ps1', 'Write-Flood.ps1']) await copyFile(join(SCRIPTS, f), join(hooksDir, f));
  const runner = new HookRunner({ dir, self: { Name: 'hva' } as never, hypervisor: { Driver: 'simulated', Options: {} } }, { executable: pwshPath() });
  return {
    dir,
    hooksDir,
    runner,
    cleanup,
    module: (hooks, name = 'web1', vmName = 'WEB1') => ({
      name,
      file: `modules/${name}.json`,
      vmName,
      vmId: '3f2b1c7e-0a1b-4c2d-8e9f-0123456789ab',
      disks: 'auto',
      defaultPrimary: 'hva',
      replication: { interval: 30, compression: 'none', blockSize: 65536 },
      policies: { failback: 'auto', stopMode: 'Shutdown', stopTimeoutSeconds: 10, startTimeoutSeconds: 10 },
      hooks,
    }),
    calls: async () => (await readFile(join(hooksDir, 'calls.log'), 'utf8').catch(() => '')).split(/\r?\n/).map((l) => l.replace(/^\uFEFF/, '')).filter((l) => l.length > 0),
  };
}

/** The object Write-Echo.ps1 wrote back (base64 of UTF-8 JSON after "ECHO "). */
export function decodeEcho(stdoutTail: string): { Received: Record<string, unknown>; Raw: string; ArgumentCount: number; WorkingDirectory: string } {
  const line = stdoutTail.split(/\r?\n/).find((l) => l.startsWith('ECHO '));
  if (line === undefined) throw new Error(`no ECHO line in the hook's output: ${stdoutTail}`);
  return JSON.parse(Buffer.from(line.slice(5).trim(), 'base64').toString('utf8'));
}
