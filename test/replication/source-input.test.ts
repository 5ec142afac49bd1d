import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ErrorDocument } from '../../src/cli/output';
import { run } from '../../src/util/exec';
import type { ErrorCode } from '../../src/errors';
import { replicateLocal } from '../../src/replication';
import { verifyLocal } from '../../src/replication/verify/verify-local';
import { createVhdx, qemuWrites } from '../helpers/qemu';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';

// What the source side refuses before it sends anything: files named like a VHDX that are not
// one (issue 7 item 6), and a verify of a folder that holds no replica (item 7).

const MiB = 1 << 20;

async function codeOf(p: Promise<unknown>): Promise<{ code: string | undefined; message: string }> {
  try {
    await p;
  } catch (err) {
    return { code: (err as { code?: string }).code, message: (err as Error).message };
  }
  return { code: 'none (it succeeded)', message: '' };
}

async function expectCode(p: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<void> {
  const got = await codeOf(p);
  expect(got.code, got.message).to.equal(code);
  if (message !== undefined) expect(got.message).to.match(message);
}

describe('replication/source input checks', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(() => cleanup());

  it('refuses a .vhdx/.avhdx that is not a VHDX in auto mode (random bytes, flipped signature, empty), and copies it in raw mode', async () => {
    const { seed, rand } = seeded('not-a-vhdx');
    const random = Buffer.alloc(3 * MiB + 123);
    for (let i = 0; i < random.length; i++) random[i] = Math.floor(rand() * 256);
    random.write('vhdxfilf', 0, 'latin1'); // one bit away from the signature, for good measure
    const good = join(dir, 'good.vhdx');
    await createVhdx(good, { sizeBytes: 16 * MiB, subformat: 'dynamic', blockSizeBytes: MiB });
    await qemuWrites(good, [{ offset: MiB, length: 65536, pattern: 7 }]);
    const flipped = await readFile(good);
    flipped[0] ^= 0x01;
    const cases: Array<[string, Buffer]> = [
      ['random.vhdx', random],
      ['flipped.vhdx', flipped],
      ['empty.vhdx', Buffer.alloc(0)],
      ['Short.AVHDX', Buffer.from('vhdx')],
    ];
    for (const [name, bytes] of cases) {
      const src = join(dir, name);
      await writeFile(src, bytes);
      const rep = join(dir, `replica-${name}`);
      await expectCode(replicateLocal({ sources: [src], toDir: rep }), 'VHDX_INVALID', new RegExp(`^${name.replace('.', '\\.')}: named like a VHDX but .*--mode raw`));
      expect(existsSync(join(rep, name)), `${name}: no replica file (seed ${seed})`).to.equal(false);
      // On purpose, raw mode copies it byte for byte.
      const r = await replicateLocal({ sources: [src], toDir: rep, mode: 'raw' });
      expect([r.generation, r.files[0]!.mode]).to.deep.equal([1, 'raw']);
      expect((await readFile(join(rep, name))).equals(bytes), `${name}: raw replica equals the source (seed ${seed})`).to.equal(true);
    }
    // A real VHDX is still read as one, and a non-VHDX name stays raw in auto mode.
    expect((await replicateLocal({ sources: [good], toDir: join(dir, 'replica-good') })).files[0]!.mode).to.equal('vhdx');
    await writeFile(join(dir, 'config.vmcx'), random);
    expect((await replicateLocal({ sources: [join(dir, 'config.vmcx')], toDir: join(dir, 'replica-vmcx') })).files[0]!.mode).to.equal('raw');
  });

  it('verify of a missing replica folder, or of a folder with no replica state, is an error and creates nothing', async () => {
    const src = join(dir, 'a.raw');
    await writeFile(src, Buffer.alloc(100_000, 3));
    const missing = join(dir, 'no-such-replica');
    await expectCode(verifyLocal({ sources: [src], replicaDir: missing }), 'FILE_NOT_FOUND', /does not exist/);
    expect(existsSync(missing), 'the missing folder is still missing').to.equal(false);

    // A folder that exists (a copy of the disk in it, e.g.) but was never a replica.
    const plain = join(dir, 'plain');
    await replicateLocal({ sources: [src], toDir: join(dir, 'real') });
    await mkdir(plain);
    await copyFile(join(dir, 'real', 'a.raw'), join(plain, 'a.raw'));
    await expectCode(verifyLocal({ sources: [src], replicaDir: plain }), 'FILE_NOT_FOUND', /holds no replica/);
    expect(existsSync(join(plain, '.vmmirror')), 'no .vmmirror folder was created').to.equal(false);

    // A file where the folder should be.
    const file = join(dir, 'a-file');
    await writeFile(file, 'x');
    await expectCode(verifyLocal({ sources: [src], replicaDir: file }), 'FILE_NOT_FOUND', /not a folder/);

    // The real replica still verifies.
    const ok = await verifyLocal({ sources: [src], replicaDir: join(dir, 'real') });
    expect([ok.equal, ok.generation]).to.deep.equal([true, 1]);
    const fh = await open(join(dir, 'real', 'a.raw'), 'r+');
    await fh.write(Buffer.from([9]), 0, 1, 500);
    await fh.close();
    expect((await verifyLocal({ sources: [src], replicaDir: join(dir, 'real') })).equal).to.equal(false);
  });

  it('the CLI (this checkout, under ts-node) answers both with one JSON error document and the INPUT / IO exit codes', async () => {
    const ROOT = resolve(__dirname, '../..');
    const child = (args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> =>
      run(process.execPath, ['-r', 'ts-node/register', join(__dirname, 'fixtures', 'replicate-cli-child.ts'), ...args, '--json'], { cwd: ROOT, env: { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true' } });
    const src = join(dir, 'disk.vhdx');
    await writeFile(src, Buffer.alloc(70_000, 0x11));
    const bad = await child(['replicate', src, '--to', join(dir, 'rep')]);
    expect(bad.exitCode, bad.stderr).to.equal(4);
    expect(ErrorDocument.parse(JSON.parse(bad.stdout)).Error.Code).to.equal('VHDX_INVALID');
    const missing = await child(['verify', src, '--replica', join(dir, 'nowhere'), '--mode', 'raw']);
    expect(missing.exitCode, missing.stderr).to.equal(5);
    expect(ErrorDocument.parse(JSON.parse(missing.stdout)).Error.Code).to.equal('FILE_NOT_FOUND');
    expect(existsSync(join(dir, 'nowhere'))).to.equal(false);
  });
});

