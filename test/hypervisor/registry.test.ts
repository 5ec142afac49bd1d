import { expect } from 'chai';
import { join } from 'node:path';
import { hasCode } from '../../src/errors';
import { createHypervisor } from '../../src/hypervisor/registry';
import { createSimulatedHost } from '../../src/hypervisor/simulated';
import { tempDir } from '../helpers/tmp';

describe('src/hypervisor/registry', () => {
  it('builds the simulated driver on the host state folder it is given', async () => {
    const tmp = await tempDir();
    try {
      const stateDir = join(tmp.dir, 'host');
      await createSimulatedHost(stateDir, { name: 'reg-host', switchNames: ['A', 'B'] });
      const hv = createHypervisor('simulated', { simulated: { stateDir } });
      expect(hv.id).to.equal('simulated');
      const host = await hv.getHost();
      expect(host).to.include({ name: 'reg-host' });
      expect(host.switchNames).to.deep.equal(['A', 'B']);
    } finally {
      await tmp.cleanup();
    }
  });

  it('refuses the simulated driver without a state folder, and a folder that is not a simulated host', async () => {
    expect(() => createHypervisor('simulated', {})).to.throw().that.satisfies((e: unknown) => hasCode(e, 'USAGE'));
    const tmp = await tempDir();
    try {
      expect(() => createHypervisor('simulated', { simulated: { stateDir: tmp.dir } })).to.throw().that.satisfies((e: unknown) => hasCode(e, 'CONFIG_NOT_FOUND'));
    } finally {
      await tmp.cleanup();
    }
  });
});
