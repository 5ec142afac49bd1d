import { expect } from 'chai';
import { truncate, writeFile } from 'node:fs/promises';
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
      expect(outcome).to.equal('rejected CANCELLED');
    } finally {
      await cleanup();
    }
  });

  it('leaves no unhandled rejection when a later chunk fails while an earlier one is awaited', async () => {
    const { dir, cleanup } = await tempDir();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const file = join(dir, 'shrinks.raw');
      await writeFile(file, Buffer.alloc(24 << 20, 0x33));
      const { stream } = await createDelta({
        module: 'm',
        streamId: 'a'.repeat(32),
        blockSize: 64 << 10,
        sources: [{ name: 'shrinks.raw', path: file, mode: 'raw' }],
        replica: { generation: 0, manifests: new Map() },
      });
      // The file shrinks under the scan: the first 4 MiB chunk reads fine, every later one fails.
      await truncate(file, 4 << 20);
      let failed: unknown;
      try {
        for await (const _ of stream) void _;
      } catch (err) {
        failed = err;
      }
      expect((failed as { code?: string } | undefined)?.code).to.equal('SOURCE_CHANGED');
      await new Promise((r) => setTimeout(r, 300));
      expect(unhandled.map(String)).to.deep.equal([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await cleanup();
    }
  });
});
