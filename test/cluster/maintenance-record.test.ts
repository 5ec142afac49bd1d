import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readMaintenanceRecord, writeMaintenanceRecord } from '../../src/cluster/maintenance-record';
import { VmmirrorError } from '../../src/errors';
import { tempDir } from '../helpers/tmp';

// The maintenance record (docs/cluster.md "Maintenance"): absent reads as nobody in maintenance,
// what is written reads back, and a damaged file is an error with a stable code, never a default.

describe('src/cluster/maintenance-record (the durable maintenance flags)', () => {
  it('absent: nobody in maintenance; written: read back the same; damaged or foreign: CLUSTER_STATE_INVALID naming the file', async () => {
    const t = await tempDir('vmmirror-maint-');
    try {
      expect(await readMaintenanceRecord(t.dir)).to.deep.equal({ Version: 1, Hosts: [] });
      const record = { Version: 1 as const, Hosts: [{ Name: 'hva', Since: '2026-12-01T19:00:00.000Z', Draining: true }] };
      await writeMaintenanceRecord(t.dir, record);
      expect(await readMaintenanceRecord(t.dir)).to.deep.equal(record);
      const path = join(t.dir, 'maintenance.json');
      expect(JSON.parse(await readFile(path, 'utf8'))).to.deep.equal(record);
      for (const bad of ['{"Version":1,"Hosts":[', '{"Version":2,"Hosts":[]}', '{"Version":1,"Hosts":[{"Name":"../x","Since":"2026-12-01T19:00:00.000Z","Draining":false}]}', 'x'.repeat(20_000)]) {
        await writeFile(path, bad);
        const err = await readMaintenanceRecord(t.dir).then(() => null, (e: unknown) => e);
        expect(err, bad.slice(0, 40)).to.be.instanceOf(VmmirrorError);
        expect((err as VmmirrorError).code).to.equal('CLUSTER_STATE_INVALID');
        expect((err as VmmirrorError).message).to.contain(path);
      }
    } finally {
      await t.cleanup();
    }
  });
});
