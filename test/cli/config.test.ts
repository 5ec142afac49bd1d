import { expect } from 'chai';
import { ConfigValidateOutput } from '../../src/cli/commands/config';
import { makeConfig, moduleBody } from '../config/fixture';
import { tempDir } from '../helpers/tmp';
import { vmmirror } from './vmmirror-process';

describe('src/cli/commands/config', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(() => cleanup());

  it('validate exits 0 and says which host and how many modules on a good config', async () => {
    await makeConfig(dir);
    const r = await vmmirror(['config', 'validate', '--dir', dir, '--json']);
    expect(r.exitCode, r.stderr).to.equal(0);
    expect(ConfigValidateOutput.parse(JSON.parse(r.stdout))).to.deep.include({ Valid: true, HostName: 'hv1', ModuleCount: 1, Problems: [] });
  });

  it('validate exits 3 and lists every problem with file and field, in JSON and in text', async () => {
    const f = await makeConfig(dir);
    await f.writeModule('web1.json', { ...moduleBody('web1', 'nohost'), Replication: { Interval: 0 } });
    f.cluster.Agent.MaxConcurrentCycles = 'two';
    await f.writeCluster(f.cluster);
    const r = await vmmirror(['config', 'validate', '--dir', dir, '--json']);
    expect(r.exitCode).to.equal(3);
    const doc = ConfigValidateOutput.parse(JSON.parse(r.stdout));
    expect(doc.Problems.map((p) => `${p.File} ${p.Path}`)).to.have.members([
      'cluster.json Agent.MaxConcurrentCycles',
      'modules/web1.json Replication.Interval',
    ]);
    // DefaultPrimary is checked only once cluster.json parses: fix it and it shows up.
    delete f.cluster.Agent.MaxConcurrentCycles;
    await f.writeCluster(f.cluster);
    const text = await vmmirror(['config', 'validate', '--dir', dir]);
    expect(text.exitCode).to.equal(3);
    expect(text.stdout).to.include('modules/web1.json: DefaultPrimary names "nohost", which is not a host in cluster.json');
    expect(text.stdout).to.include('modules/web1.json: Replication.Interval');
  });
});
