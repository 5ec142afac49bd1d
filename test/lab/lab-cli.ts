import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crashSimulatedHost } from '../../src/hypervisor/simulated';
import { labPaths } from '../../src/lab/layout';
import { endProcesses } from '../../src/lab/processes';
import { LabFile } from '../../src/lab/schema';
import { tempDir } from '../helpers/tmp';
import { vmmirror } from '../cli/vmmirror-process';

// The lab tests drive `vmmirror lab ...` as a user would (a child process), and clean up with the
// lab's own code, so a failed test leaves no process behind.

export interface LabUnderTest {
  dir: string;
  lab: LabFile;
  cli(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  cleanup(): Promise<void>;
}

/** `vmmirror lab create <tmp>/lab --json ...`; the lab's seed comes from the test's own. */
export async function createTestLab(seed: number, extra: string[] = []): Promise<LabUnderTest> {
  const t = await tempDir('vmmirror-lab-');
  const dir = join(t.dir, 'lab');
  const r = await vmmirror(['lab', 'create', dir, '--json', '--seed', String(seed), '--disk-mib', '8', ...extra]);
  if (r.exitCode !== 0) throw new Error(`lab create exited ${r.exitCode}: ${r.stdout}${r.stderr}`);
  const lab = LabFile.parse(JSON.parse(r.stdout));
  return {
    dir,
    lab,
    cli: (args) => vmmirror(args),
    async cleanup() {
      const p = labPaths(dir);
      await endProcesses(p, ['hva-agent', 'hva-guard', 'hvb-agent', 'hvb-guard', 'witness'], 'kill').catch(() => undefined);
      for (const h of ['hva', 'hvb'] as const) await crashSimulatedHost(p.host(h).simDir).catch(() => undefined);
      if (process.env.VMMIRROR_KEEP_TEST_DIRS === undefined) await t.cleanup();
      else process.stderr.write(`      (lab kept in ${dir})\n`);
    },
  };
}

export async function readJsonFile(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, 'utf8')) as unknown;
}
