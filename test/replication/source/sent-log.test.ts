import { join } from 'node:path';
import { expect } from 'chai';
import { readSentLog, SentLogWriter } from '../../../src/replication/source/sent-log';
import { seeded } from '../../helpers/seed';
import { tempDir } from '../../helpers/tmp';

describe('replication/source/sent-log', () => {
  it('reads back every record in order, across several flushes (writes complete through write-all)', async () => {
    const t = await tempDir('vmmirror-sentlog-');
    try {
      const { rand, seed } = seeded('sent-log');
      const path = join(t.dir, 'sent.log');
      const w = await SentLogWriter.create(path);
      const want: Array<{ fileIndex: number; index: number; hash: Buffer }> = [];
      for (let i = 0; i < 3000; i++) {
        const rec = { fileIndex: Math.floor(rand() * 4), index: i * 3 + Math.floor(rand() * 3), hash: Buffer.from(Array.from({ length: 32 }, () => Math.floor(rand() * 256))) };
        want.push(rec);
        await w.add(rec.fileIndex, rec.index, rec.hash);
      }
      await w.close();
      const got = [];
      for await (const r of readSentLog(path)) got.push(r);
      expect(got, `seed ${seed}`).to.deep.equal(want);
    } finally {
      await t.cleanup();
    }
  });
});
