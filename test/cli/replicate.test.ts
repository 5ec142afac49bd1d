import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ReplicateOutput } from '../../src/cli/commands/replicate';
import { VerifyOutput } from '../../src/cli/commands/verify';
import { ErrorDocument } from '../../src/cli/output';
import { run } from '../../src/util/exec';
import { createVhdx, qemuWrites } from '../helpers/qemu';
import { tempDir } from '../helpers/tmp';

const ROOT = resolve(__dirname, '../..');
const BIN = join(ROOT, 'bin', 'vmmirror.js');
const PWSH = join(ROOT, '.tools', 'pwsh', 'pwsh');
const MiB = 1 << 20;

// The compiled CLI, as `npx vmmirror` runs it (npm test builds dist/ first).
function cli(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return run(process.execPath, [BIN, ...args], { env: { ...process.env, VMMIRROR_LOG_LEVEL: 'info' } });
}

// Exactly one JSON document on stdout, nothing else.
function oneJson(stdout: string): unknown {
  const lines = stdout.trim().split('\n');
  expect(lines, 'stdout holds one line of JSON').to.have.length(1);
  return JSON.parse(lines[0]);
}

describe('cli/commands/replicate and verify', function () {
  this.timeout(120_000);
  let dir: string;
  let cleanup: () => Promise<void>;
  let src: string;
  let rep: string;

  before(async () => {
    if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does)');
    ({ dir, cleanup } = await tempDir());
    src = join(dir, 'web1.vhdx');
    rep = join(dir, 'replica');
    await createVhdx(src, { sizeBytes: 32 * MiB, subformat: 'dynamic', blockSizeBytes: MiB });
    await qemuWrites(src, [{ offset: 2 * MiB, length: MiB, pattern: 9 }]);
  });
  after(async () => cleanup());

  it('seeds, then sends a delta, each time printing one JSON report that the output schema accepts', async () => {
    const first = await cli(['replicate', src, '--to', rep, '--json']);
    await qemuWrites(src, [{ offset: 20 * MiB, length: 4096, pattern: 10 }]);
    const second = await cli(['replicate', src, '--to', rep, '--json']);

    expect(first.exitCode, first.stderr).to.equal(0);
    const a = ReplicateOutput.parse(oneJson(first.stdout));
    const b = ReplicateOutput.parse(oneJson(second.stdout));
    expect([a.Generation, b.Generation]).to.deep.equal([1, 2]);
    expect(b.BytesSent).to.be.lessThan(a.BytesSent);
    expect(b.Files[0]).to.include({ Name: 'web1.vhdx', Mode: 'vhdx', Replica: join(rep, 'web1.vhdx') });
  });

  it('verify exits 0 when equal and 1 with the differing range when the replica was written to', async () => {
    const equal = await cli(['verify', src, '--replica', rep, '--json']);
    const fh = await open(join(rep, 'web1.vhdx'), 'r+');
    await fh.write(Buffer.from('tampered'), 0, 8, 65536 * 3 + 100);
    await fh.close();
    const differs = await cli(['verify', src, '--replica', rep, '--json']);

    expect(equal.exitCode).to.equal(0);
    expect(VerifyOutput.parse(oneJson(equal.stdout)).Equal).to.equal(true);
    expect(differs.exitCode).to.equal(1);
    const v = VerifyOutput.parse(oneJson(differs.stdout));
    expect(v.Files[0].DifferingRanges).to.deep.equal([{ Offset: 65536 * 3, Length: 65536 }]);
  });

  it('repairs a replica written behind its back: --rehash for any file, automatically when a VHDX says so', async () => {
    const blind = ReplicateOutput.parse(oneJson((await cli(['replicate', src, '--to', rep, '--json'])).stdout));
    const rehashed = ReplicateOutput.parse(oneJson((await cli(['replicate', src, '--to', rep, '--rehash', '--json'])).stdout));
    const afterRehash = await cli(['verify', src, '--replica', rep, '--json']);
    // The replica VM was started by hand: Hyper-V (here QEMU) changes its DataWriteGuid first.
    await qemuWrites(join(rep, 'web1.vhdx'), [{ offset: 5 * MiB, length: 8192, pattern: 0x66 }]);
    const auto = ReplicateOutput.parse(oneJson((await cli(['replicate', src, '--to', rep, '--json'])).stdout));
    const afterAuto = await cli(['verify', src, '--replica', rep, '--json']);

    expect(blind.BlocksChanged, 'a tampered region table does not change the DataWriteGuid').to.equal(0);
    expect(rehashed.Rehashed).to.deep.equal(['web1.vhdx']);
    expect(rehashed.BlocksChanged).to.be.greaterThan(0);
    expect(afterRehash.exitCode).to.equal(0);
    expect(auto.Rehashed).to.deep.equal(['web1.vhdx']);
    expect(auto.BlocksChanged).to.be.greaterThan(0);
    expect(afterAuto.exitCode, afterAuto.stdout).to.equal(0);
  });

  const errors: Array<[string, () => string[], number, string]> = [
    ['a block size that is not a power of two', () => ['replicate', src, '--to', join(dir, 'x'), '--block-size', '3000', '--json'], 2, 'USAGE'],
    ['an unknown --mode', () => ['replicate', src, '--to', join(dir, 'x'), '--mode', 'fast', '--json'], 2, 'USAGE'],
    ['a missing --to', () => ['replicate', src, '--json'], 2, 'USAGE'],
    ['a source that does not exist', () => ['replicate', join(dir, 'nope.vhdx'), '--to', join(dir, 'x'), '--json'], 5, 'FILE_NOT_FOUND'],
    ['two sources with the same file name', () => ['replicate', src, join(dir, 'sub', '..', 'web1.vhdx'), '--to', join(dir, 'x'), '--json'], 3, 'CONFIG_INVALID'],
  ];
  for (const [what, args, exit, code] of errors) {
    it(`refuses ${what} with exit ${exit} and error code ${code}`, async () => {
      const r = await cli(args());

      expect(r.exitCode, r.stdout + r.stderr).to.equal(exit);
      expect(ErrorDocument.parse(oneJson(r.stdout)).Error.Code).to.equal(code);
    });
  }

  it('refuses a file that claims to be a VHDX but is corrupt with exit 4 (VHDX_INVALID)', async () => {
    const bad = join(dir, 'bad.vhdx');
    await writeFile(bad, Buffer.concat([Buffer.from('vhdxfile'), Buffer.alloc(2 * MiB, 1)]));

    const r = await cli(['replicate', bad, '--to', join(dir, 'badrep'), '--json']);

    expect(r.exitCode).to.equal(4);
    expect(ErrorDocument.parse(oneJson(r.stdout)).Error.Code).to.equal('VHDX_INVALID');
  });

  it('answers PowerShell: the --json output converts with ConvertFrom-Json', async () => {
    const script = `$r = & '${process.execPath}' '${BIN}' verify '${src.replace(/'/g, "''")}' --replica '${rep.replace(/'/g, "''")}' --json | ConvertFrom-Json; "$($r.Equal)|$($r.Files[0].Name)|$($r.Files.GetType().Name)"`;
    const r = await run(PWSH, ['-NoProfile', '-NonInteractive', '-Command', script]);

    expect(r.exitCode, r.stderr).to.equal(0);
    expect(r.stdout.trim()).to.equal('True|web1.vhdx|Object[]');
  });
});
