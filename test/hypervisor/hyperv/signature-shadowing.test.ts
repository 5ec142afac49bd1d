import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { tempDir } from '../../helpers/tmp';
import { runDriverContract } from '../contract';
import { MiB } from './helpers';
import { makeMockHost, type MockHost } from './mock-fixture';
import { repoRoot } from './pwsh';

// Issue 12 item 6: hosts with VMware PowerCLI export Get-VM, Start-VM, ... too. A module imported
// after Hyper-V wins every bare-name lookup, so ps/ calls Hyper-V\Get-VM. Here a PowerCLI stand-in
// (every call logged, then thrown) is imported after the mock Hyper-V module and the whole driver
// contract runs through it: one bare call in ps/ fails the contract or leaves a line in the log.

const shadowModule = join(repoRoot, 'test', 'hypervisor', 'mock-hyperv', 'shadow', 'VMware.VimAutomation.Core.psm1');
const probeDir = join(repoRoot, 'test', 'hypervisor', 'hyperv', 'scripts');

describe('ps/ under a PowerCLI-style module that shadows Hyper-V cmdlet names', function () {
  this.timeout(180_000);
  let logDir: { dir: string; cleanup(): Promise<void> };
  let shadowLog: string;
  before(async () => {
    logDir = await tempDir('vmmirror-shadow-');
    shadowLog = join(logDir.dir, 'shadow-calls.log');
  });
  after(async () => logDir?.cleanup());

  const shadowedHost = (o: Parameters<typeof makeMockHost>[0]): Promise<MockHost> =>
    makeMockHost(o, { importModules: [shadowModule], env: { VMMIRROR_SHADOW_LOG: shadowLog }, scriptDirs: [probeDir] });

  describe('the stand-in really shadows', () => {
    let h: MockHost;
    before(async () => {
      h = await shadowedHost({ switchNames: ['LAN'], hostMemoryBytes: 8 * 1024 * MiB });
    });
    after(async () => h?.cleanup());

    it('resolves bare Get-VM/Start-VM/Stop-VM to the stand-in and Hyper-V\\ to the Hyper-V module', async () => {
      for (const name of ['Get-VM', 'Start-VM', 'Stop-VM', 'Get-VHD', 'Import-VM']) {
        const r = await h.runner.invoke('Get-TestCommandSource', { Name: name }, z.object({ Bare: z.string(), Qualified: z.string() }), { timeoutMs: 20_000 });
        expect(r, name).to.deep.equal({ Bare: 'VMware.VimAutomation.Core', Qualified: 'Hyper-V' });
      }
    });
  });

  runDriverContract('hyperv (mock Hyper-V module, PowerCLI stand-in imported after it)', shadowedHost);

  // Defined last, so mocha runs it after the contract's suites.
  describe('afterwards', () => {
    it('no ps/ script called a shadowing function during the contract', () => {
      const calls = existsSync(shadowLog) ? readFileSync(shadowLog, 'utf8').trim() : '';
      expect(calls, 'commands that resolved to the PowerCLI stand-in').to.equal('');
    });
  });
});
