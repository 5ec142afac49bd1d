import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readHealthRecords, writeHealthRecord, type HealthRecord } from '../../../src/agent/cluster/health-store';
import { componentLogger } from '../../../src/log';
import { tempDir } from '../../helpers/tmp';

// The VM health counts on disk: written and read back whole; a damaged file, one of another
// module, or a bad count is absent (the module starts from zero), never an error.

const log = componentLogger('test');
const rec = (module: string): HealthRecord => ({ Version: 1, Module: module, Epoch: 4, Restarts: 1, Relocations: 1, GivenUp: false, LastAction: 'relocate', LastReason: 'guest heartbeat lost for 60 s (limit 60 s)', LastActionAt: '2026-12-01T19:00:00.000Z', Carried: { AfterEpoch: 4, Relocations: 1, Reason: 'r' } });

describe('src/agent/cluster/health-store (VM health counts across agent restarts)', () => {
  it('reads back what it wrote; damaged, foreign or out-of-bounds files are absent, not errors', async () => {
    const t = await tempDir('vmmirror-health-');
    try {
      await writeHealthRecord(t.dir, rec('web'));
      await writeFile(join(t.dir, 'torn.json'), '{"Version":1,"Mod');
      await writeFile(join(t.dir, 'other.json'), JSON.stringify(rec('web')));
      await writeFile(join(t.dir, 'huge.json'), JSON.stringify({ ...rec('huge'), Restarts: 1e9 }));
      const got = await readHealthRecords(t.dir, ['web', 'torn', 'other', 'huge', 'missing', '../web'], log);
      expect([...got.keys()]).to.deep.equal(['web']);
      expect(got.get('web')).to.deep.equal(rec('web'));
    } finally {
      await t.cleanup();
    }
  });
});
