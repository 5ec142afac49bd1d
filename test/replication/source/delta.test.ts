import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDelta } from '../../../src/replication';
import { tempDir } from '../../helpers/tmp';

describe('replication/source/delta', () => {
  it('settles its report when the consumer stops reading early', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const file = join(dir, 'big.raw');
      await writeFile(file, Buffer.alloc(16 << 20, 0x5a));
      const { stream, report } = await createDelta({
        module: 'm',
        streamId: 'a'.repeat(32),
        blockSize: 64 << 10,
        sources: [{ name: 'big.raw', path: file, mode: 'raw' }],
        replica: { generation: 0, manifests: new Map() },
      });
      let got = 0;
      for await (const chunk of stream) {
        got += (chunk as Buffer).length;
        if (got > 1 << 20) {
          stream.destroy(); // a consumer giving up without an error
          break;
        }
      }
      const outcome = await Promise.race([
        report.then(
          (r) => `resolved ${r.blocksChanged} ${r.bytesSent}`,
          (err: unknown) => `rejected ${(err as { code?: string }).code}`,
        ),
        new Promise<string>((r) => setTimeout(() => r('still pending'), 3000)),
      ]);
      expect(outcome).to.match(/^rejected /);
    } finally {
      await cleanup();
    }
  });
});
