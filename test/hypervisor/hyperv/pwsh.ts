import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

// Where the test setup installs PowerShell and Pester. Tests that need them fail (never skip) when
// they are missing: `npm test` runs scripts/install-test-tools.sh first.
const root = resolve(__dirname, '..', '..', '..');

/** The repository root. */
export const repoRoot: string = root;
/** The mock Hyper-V module (its manifest names it Hyper-V, so Hyper-V\Get-VM resolves to it). */
export const mockModule: string = join(root, 'test', 'hypervisor', 'mock-hyperv', 'Hyper-V.psd1');
/** The mock's test-side scripts (Invoke-MockHyperV). */
export const mockScriptDir: string = join(root, 'test', 'hypervisor', 'mock-hyperv', 'scripts');
/** The driver scripts. */
export const psDir: string = join(root, 'ps');

/** pwsh as installed by scripts/install-test-tools.sh, or a clear error. */
export function pwshPath(): string {
  const p = process.env.VMMIRROR_PWSH ?? join(root, '.tools', 'pwsh', 'pwsh');
  if (!existsSync(p)) {
    throw new Error(`PowerShell 7 not found at ${p}: run 'bash scripts/install-test-tools.sh' (npm test does) to install it`);
  }
  return p;
}

/** Pester's module manifest as restored by scripts/install-test-tools.sh, or a clear error. */
export function pesterPath(): string {
  const p = join(root, '.tools', 'nuget', 'pester', '5.7.1', 'tools', 'Pester.psd1');
  if (!existsSync(p)) throw new Error(`Pester 5.7.1 not found at ${p}: run 'bash scripts/install-test-tools.sh' to restore it`);
  return p;
}
