import { expect } from 'chai';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runConfigValidate, ConfigValidateOutput } from '../../src/cli/commands/config';
import { formatProblem, inspectConfig, loadConfig } from '../../src/config';
import { ModuleFile } from '../../src/config/schema';
import { VmmirrorError } from '../../src/errors';
import { HookRunner, hookExecutable, hookPathProblem, resolveHookPath } from '../../src/hooks';
import { TailBuffer } from '../../src/hooks/tail';
import { makeConfig, moduleBody, type ConfigFixture } from '../config/fixture';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';

// Hook settings in the module file (path rules, timeout), `config validate` on missing scripts,
// which PowerShell runs hooks, and the bounded tail buffer. No PowerShell runs here.

describe('hooks: configuration, validation, tails', () => {
  let f: ConfigFixture;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    const t = await tempDir();
    cleanup = t.cleanup;
    f = await makeConfig(t.dir);
  });
  afterEach(() => cleanup());

  it('refuses hook paths that climb out of the config directory, are not .ps1 or are drive-relative; accepts the rest', () => {
    for (const ok of ['hooks/web1.ps1', './a/../b.PS1', 'C:\\ProgramData\\vmmirror\\hooks\\x.ps1', '/opt/hooks/x.ps1', '\\\\server\\share\\x.ps1', 'a\\..\\x.ps1']) {
      expect(hookPathProblem(ok), ok).to.equal(null);
    }
    expect(hookPathProblem('../x.ps1')).to.match(/must stay inside the config directory: ".." climbs out/);
    expect(hookPathProblem('hooks/../../x.ps1')).to.match(/climbs out of it/);
    expect(hookPathProblem('hooks\\..\\..\\x.ps1')).to.match(/climbs out of it/);
    expect(hookPathProblem('hooks/x.cmd')).to.match(/\.ps1/);
    expect(hookPathProblem('C:x.ps1')).to.match(/not relative to a drive/);
    expect(hookPathProblem('hooks/x.ps1\n')).to.match(/line breaks|\.ps1/);
    expect(resolveHookPath('/etc/vmmirror', 'hooks/x.ps1')).to.equal('/etc/vmmirror/hooks/x.ps1');
    expect(resolveHookPath('/etc/vmmirror', 'C:\\h\\x.ps1')).to.equal('C:\\h\\x.ps1');
    expect(() => resolveHookPath('/etc/vmmirror', '../x.ps1')).to.throw(VmmirrorError).with.property('code', 'CONFIG_INVALID');
  });

  it('loading a module whose hook climbs out of the config directory is CONFIG_INVALID naming file and field', async () => {
    await f.writeModule('web1.json', { ...moduleBody('web1'), Hooks: { PreStart: '../../etc/evil.ps1', TimeoutSeconds: 0 } });
    const err = await loadConfig(f.dir).then(
      () => null,
      (e: unknown) => e as VmmirrorError,
    );
    expect(err?.code).to.equal('CONFIG_INVALID');
    expect(err!.message).to.include('modules/web1.json: Hooks.PreStart must stay inside the config directory');
    expect(err!.message).to.include('modules/web1.json: Hooks.TimeoutSeconds must be at least 1');
  });

  it('carries Hooks.TimeoutSeconds into the resolved module (absent: the runner default)', async () => {
    await f.writeModule('web1.json', { ...moduleBody('web1'), Hooks: { PostStart: 'hooks/check.ps1', TimeoutSeconds: 15 } });
    const m = (await loadConfig(f.dir)).modules[0]!;
    expect(m.hooks).to.deep.equal({ preStart: undefined, postStart: 'hooks/check.ps1', preStop: undefined, postStop: undefined, timeoutSeconds: 15 });
    expect(ModuleFile.parse({ ...moduleBody('x'), Hooks: {} }).Hooks.TimeoutSeconds).to.equal(undefined);
  });

  it('config validate reports a hook script missing on this host (exit 3), and passes once it exists', async () => {
    await f.writeModule('web1.json', { ...moduleBody('web1'), Hooks: { PreStop: 'hooks/drain.ps1', PostStart: join(f.dir, 'abs', 'check.ps1') } });
    // The agent's own load does not refuse it: a missing script fails only its hook, at run time.
    expect((await inspectConfig(f.dir)).problems).to.deep.equal([]);
    const bad = await runConfigValidate({ dir: f.dir });
    expect(bad.exitCode).to.equal(3);
    const doc = ConfigValidateOutput.parse(bad.json);
    expect(doc.Valid).to.equal(false);
    expect(doc.Problems.map(formatProblem)).to.deep.equal([
      `modules/web1.json: Hooks.PostStart names ${join(f.dir, 'abs', 'check.ps1')}, which does not exist on this host (HOOK_NOT_FOUND)`,
      `modules/web1.json: Hooks.PreStop names ${join(f.dir, 'hooks', 'drain.ps1')}, which does not exist on this host (HOOK_NOT_FOUND)`,
    ]);
    await mkdir(join(f.dir, 'hooks'));
    await mkdir(join(f.dir, 'abs'));
    await writeFile(join(f.dir, 'hooks', 'drain.ps1'), 'exit 0');
    await writeFile(join(f.dir, 'abs', 'check.ps1'), 'exit 0');
    const good = await runConfigValidate({ dir: f.dir });
    expect(good.exitCode, good.text).to.equal(0);
  });

  it('runs hooks with the Hyper-V driver\'s PowerShell, else powershell.exe on Windows, else VMMIRROR_PWSH or pwsh', async () => {
    expect(hookExecutable({ hypervisorOptions: { executable: '/opt/pwsh' }, platform: 'win32' })).to.equal('/opt/pwsh');
    expect(hookExecutable({ platform: 'win32', env: { VMMIRROR_PWSH: '/x' } })).to.equal('powershell.exe');
    expect(hookExecutable({ platform: 'linux', env: { VMMIRROR_PWSH: '/x/pwsh' } })).to.equal('/x/pwsh');
    expect(hookExecutable({ platform: 'linux', env: {} })).to.equal('pwsh');
    const c = await loadConfig(f.dir);
    expect(new HookRunner({ ...c, hypervisor: { Driver: 'hyperv', Options: { executable: '/usr/bin/pwsh' } } }).executable).to.equal('/usr/bin/pwsh');
  });

  it('a tail buffer holds exactly the last N bytes of any chunk sequence, never more', () => {
    const { seed, int } = seeded('hooks tail buffer');
    process.stderr.write(`      tail buffer seed ${seed}\n`);
    for (let round = 0; round < 50; round++) {
      const limit = int(1, 5000);
      const tail = new TailBuffer(limit);
      const all: Buffer[] = [];
      for (let i = int(0, 40); i > 0; i--) {
        const chunk = Buffer.alloc(int(0, 3 * limit), int(0, 255)); // one byte value per chunk: a wrong cut or order shows;
        all.push(chunk);
        tail.push(chunk);
        expect(tail.heldBytes).to.be.at.most(limit);
      }
      const whole = Buffer.concat(all);
      expect(tail.total).to.equal(whole.length);
      const kept = whole.subarray(Math.max(0, whole.length - limit)).toString('utf8');
      const dropped = whole.length - Math.min(limit, whole.length);
      expect(tail.text(), `seed ${seed} round ${round}`).to.equal(dropped > 0 ? `[${dropped} earlier bytes dropped]\n${kept}` : kept);
    }
  });
});
