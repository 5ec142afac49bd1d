import { expect } from 'chai';
import { stat } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { createSimulatedHost } from '../../src/hypervisor/simulated';
import { makeConfig, moduleBody } from '../config/fixture';
import { tempDir } from '../helpers/tmp';
import { vmmirror } from './vmmirror-process';
import { freePort } from '../agent/two-hosts';

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('src/cli/commands/agent (refusing to start)', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(() => cleanup());

  it('exits 3 naming every bad file and field, opens no port and writes nothing', async () => {
    const f = await makeConfig(dir);
    const peerPort = await freePort('127.0.0.2');
    const controlPort = await freePort('127.0.0.1');
    f.cluster.Hosts[0].Port = peerPort;
    f.cluster.Agent = { ControlPort: controlPort, MaxConcurrentCycles: 0 };
    f.cluster.DataDirectory = join(dir, 'data');
    await f.writeCluster(f.cluster);
    await f.writeModule('web1.json', { ...moduleBody('web1'), Replication: { Interval: 'often' } });
    await f.writeModule('db1.json', { ...moduleBody('db1'), Hooks: { PreStrat: 'x.ps1' } });
    const r = await vmmirror(['agent', '--dir', dir]);
    expect(r.exitCode).to.equal(3);
    expect(r.stderr).to.include('cluster.json: Agent.MaxConcurrentCycles must be at least 1');
    expect(r.stderr).to.include('modules/web1.json: Replication.Interval must be a cron expression or a number of seconds');
    expect(r.stderr).to.include('modules/db1.json: Hooks.PreStrat is not a known field');
    expect(await portOpen('127.0.0.2', peerPort), 'peer port').to.equal(false);
    expect(await portOpen('127.0.0.1', controlPort), 'control port').to.equal(false);
    expect(await stat(join(dir, 'data')).then(() => true, () => false), 'data directory').to.equal(false);
  });

  it('refuses with --json as one error document listing the problems', async () => {
    const f = await makeConfig(dir);
    await f.writeModule('web1.json', { ...moduleBody('web1', 'hv3') });
    const r = await vmmirror(['agent', '--dir', dir, '--json']);
    expect(r.exitCode).to.equal(3);
    const doc = JSON.parse(r.stdout) as { Error: { Code: string; Details: { Problems: Array<{ File: string; Path: string }> } } };
    expect(doc.Error.Code).to.equal('CONFIG_INVALID');
    expect(doc.Error.Details.Problems).to.deep.equal([{ File: 'modules/web1.json', Path: 'DefaultPrimary', Message: 'names "hv3", which is not a host in cluster.json' }]);
  });

  it('exits with a peer error naming the address when its peer port is taken, and leaves the control port closed', async () => {
    const f = await makeConfig(dir);
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.2', () => resolve()));
    const taken = (blocker.address() as { port: number }).port;
    const controlPort = await freePort('127.0.0.1');
    try {
      f.cluster.Hosts[0].Port = taken;
      f.cluster.Agent = { ControlPort: controlPort };
      f.cluster.DataDirectory = join(dir, 'data');
      await f.writeCluster(f.cluster);
      await createSimulatedHost(join(dir, 'data', 'simulated'));
      const r = await vmmirror(['agent', '--dir', dir, '--json']);
      expect(r.exitCode, r.stdout).to.equal(7);
      expect(JSON.parse(r.stdout)).to.have.nested.property('Error.Message').that.includes(`127.0.0.2:${taken}`);
      expect(await portOpen('127.0.0.1', controlPort)).to.equal(false);
    } finally {
      blocker.close();
    }
  });
});
