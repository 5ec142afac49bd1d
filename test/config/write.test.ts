import { expect } from 'chai';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../src/config/write';
import { tempDir } from '../helpers/tmp';

// writeFileAtomic's failures come out coded (naming the path), never as raw Node errors that
// would surface as INTERNAL, and leave no temp file behind.

async function failure(p: Promise<unknown>): Promise<{ code?: string; message: string } | undefined> {
  try {
    await p;
  } catch (err) {
    return { code: (err as { code?: string }).code, message: (err as Error).message };
  }
  return undefined;
}

describe('config/write writeFileAtomic', () => {
  it('maps file-system errors to coded errors and removes its temp file', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const missing = await failure(writeFileAtomic(join(dir, 'no-such-folder', 'f.json'), '{}'));
      expect(missing?.code).to.equal('FILE_NOT_FOUND');
      await writeFile(join(dir, 'plain'), 'x');
      const notDir = await failure(writeFileAtomic(join(dir, 'plain', 'f.json'), '{}'));
      expect(notDir?.code).to.equal('IO_ERROR');
      // The rename fails (a folder is in the way): the temp file must not stay behind.
      await mkdir(join(dir, 'target'));
      await writeFile(join(dir, 'target', 'inside'), 'x');
      const renamed = await failure(writeFileAtomic(join(dir, 'target'), '{}'));
      expect(renamed?.code).to.equal('IO_ERROR');
      expect(renamed?.message).to.contain(join(dir, 'target'));
      expect((await readdir(dir)).sort()).to.deep.equal(['plain', 'target']);
    } finally {
      await cleanup();
    }
  });
});
