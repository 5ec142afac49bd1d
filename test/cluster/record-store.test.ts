import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { readModuleRecord, writeModuleRecord } from '../../src/cluster/record-store';
import type { ModuleRecord } from '../../src/cluster/record';
import { tempDir } from '../helpers/tmp';

const record: ModuleRecord = { Version: 1, Module: 'web', State: 'PRIM', WaitReason: null, Epoch: 7, Owner: 'hva', Generation: 42 };

async function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'resolved',
    (e: unknown) => (e as { code?: string }).code ?? 'uncoded',
  );
}

describe('cluster/record-store (the durable record per module)', () => {
  it('reads back what it wrote, and null for a module never recorded', async () => {
    const t = await tempDir('vmmirror-records-');
    try {
      const dir = join(t.dir, 'cluster');
      expect(await readModuleRecord(dir, 'web')).to.equal(null);
      await writeModuleRecord(dir, record);
      expect(await readModuleRecord(dir, 'web')).to.deep.equal(record);
      await writeModuleRecord(dir, { ...record, Epoch: 8, State: 'ALONE' });
      expect(await readModuleRecord(dir, 'web')).to.deep.include({ Epoch: 8, State: 'ALONE' });
    } finally {
      await t.cleanup();
    }
  });

  it('refuses a damaged record with CLUSTER_STATE_INVALID, never a default, and names no path from data', async () => {
    const t = await tempDir('vmmirror-records-');
    try {
      const path = join(t.dir, 'web.json');
      for (const text of ['', '{', 'null', JSON.stringify({ ...record, Epoch: -1 }), JSON.stringify({ ...record, Module: 'db' }), JSON.stringify({ ...record, Extra: 1 }), 'x'.repeat(70_000)]) {
        await writeFile(path, text);
        expect(await codeOf(readModuleRecord(t.dir, 'web')), JSON.stringify(text.slice(0, 40))).to.equal('CLUSTER_STATE_INVALID');
      }
      expect(await codeOf(readModuleRecord(t.dir, '../web'))).to.equal('CLUSTER_STATE_INVALID');
      expect(await codeOf(writeModuleRecord(t.dir, { ...record, Module: '../../etc/x' }))).to.equal('CLUSTER_STATE_INVALID');
    } finally {
      await t.cleanup();
    }
  });
});
