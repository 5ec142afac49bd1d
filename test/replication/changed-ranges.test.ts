import { expect } from 'chai';
import { createWriteStream } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { once } from 'node:events';
import { ChangedRangesFile } from '../../src/cli/parse';
import { changedRangesOf, changedRangesPaths } from '../../src/replication/source/changed-ranges-file';
import { run } from '../../src/util/exec';
import { sameBytes } from '../helpers/files';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';

// --changed-ranges files of any size (issue 7 item 8): parsed as a stream, ranges gathered in a
// bitset, so a million ranges need no more memory than a thousand.

const ROOT = resolve(__dirname, '../..');
const CHILD = join(__dirname, 'fixtures', 'replicate-cli-child.ts');
const MiB = 1 << 20;

async function collect(it: AsyncIterable<{ offset: number; length: number }>): Promise<Array<{ offset: number; length: number }>> {
  const out: Array<{ offset: number; length: number }> = [];
  for await (const r of it) out.push(r);
  return out;
}

async function usage(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return `${(err as { code?: string }).code}: ${(err as Error).message}`;
  }
  return 'none';
}

describe('replication/changed ranges (streamed)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(() => cleanup());

  it('reads what JSON.parse reads, whatever the key order, spacing or piece boundaries', async () => {
    const { int, seed } = seeded('changed-ranges-parse');
    const doc = Array.from({ length: 3 }, (_, e) => ({
      Path: `/disks/d "${e}" \u00e9\\x.vhdx`,
      Ranges: Array.from({ length: int(0, 9000) }, () => ({ Offset: int(0, 2 ** 40), Length: int(0, 2 ** 20) })),
    }));
    // Keys in both orders, uneven whitespace, numbers in exponent form: the tokenizer must cope.
    const text =
      '[' +
      doc
        .map((e, i) => {
          const ranges = e.Ranges.map((r, j) => (j % 3 === 0 ? `{ "Length":${r.Length} ,"Offset" : ${r.Offset}}` : j % 7 === 0 && r.Offset % 1000 === 0 && r.Offset > 0 ? `{"Offset":${r.Offset / 1000}e3,"Length":${r.Length}}` : `{"Offset":${r.Offset},"Length":${r.Length}}`));
          const rs = `"Ranges":\n  [${ranges.join(',\n')}]`;
          return i % 2 === 0 ? `{${rs}, "Path": ${JSON.stringify(e.Path)}}` : `{ "Path":${JSON.stringify(e.Path)},${rs} }`;
        })
        .join(' ,') +
      ']\n';
    const file = join(dir, 'ranges.json');
    await writeFile(file, text);
    expect(ChangedRangesFile.parse(JSON.parse(text)), 'the schema accepts the same document').to.deep.equal(doc);
    expect(await changedRangesPaths(file), `seed ${seed}`).to.deep.equal(doc.map((e) => e.Path));
    for (const [i, e] of doc.entries()) {
      expect(await collect(changedRangesOf(file, new Set([i]))), `entry ${i} (seed ${seed})`).to.deep.equal(e.Ranges.map((r) => ({ offset: r.Offset, length: r.Length })));
    }
    expect(await collect(changedRangesOf(file, new Set([0, 2])))).to.have.length(doc[0]!.Ranges.length + doc[2]!.Ranges.length);
  });

  it('refuses what the schema refuses, as USAGE errors that say where', async () => {
    const bad: Array<[string, RegExp]> = [
      ['', /cannot read JSON \(|ends before/],
      ['{}', /\(root\): expected an array/],
      ['[{"Path":"a","Ranges":[]}', /ends before the array does/],
      ['[{"Path":"a","Ranges":[]}] x', /cannot read JSON/],
      ['[{"Path":"a","Ranges":[]}] []', /unexpected data after the end/],
      ['[{"Path":"a"}]', /0: Ranges is required/],
      ['[{"Ranges":[]}]', /0: Path is required/],
      ['[{"Path":"","Ranges":[]}]', /Path must be a non-empty string/],
      ['[{"Path":"a","Ranges":[],"Extra":1}]', /unknown property 'Extra'/],
      ['[{"Path":"a","Path":"b","Ranges":[]}]', /Path appears twice/],
      ['[{"Path":"a","Ranges":[{"Offset":-1,"Length":5}]}]', /0\.Ranges\.0: Offset must be a whole number >= 0, got -1/],
      ['[{"Path":"a","Ranges":[{"Offset":1,"Length":2},{"Offset":1.5,"Length":5}]}]', /0\.Ranges\.1: Offset must be a whole number/],
      ['[{"Path":"a","Ranges":[{"Offset":1}]}]', /needs both Offset and Length/],
      ['[{"Path":"a","Ranges":[{"Offset":1,"Length":"2"}]}]', /Length must be a whole number >= 0, got string/],
      ['[{"Path":"a","Ranges":[{"Offset":1,"Length":01}]}]', /cannot read JSON \(bad number/],
      ['[{"Path":"a","Ranges":[{"Offset":1,"Length":2,"Size":3}]}]', /unknown property 'Size'/],
      ['[{"Path":"a\\q","Ranges":[]}]', /cannot read JSON \(bad string/],
    ];
    for (const [text, message] of bad) {
      const file = join(dir, 'bad.json');
      await writeFile(file, text);
      const got = await usage(changedRangesPaths(file));
      expect(got, text).to.match(/^USAGE: --changed-ranges /);
      expect(got, text).to.match(message);
      if (/appears twice/.test(message.source)) continue; // stricter than JSON.parse, which keeps the last
      let schemaOk = true;
      try {
        ChangedRangesFile.parse(JSON.parse(text));
      } catch {
        schemaOk = false;
      }
      expect(schemaOk, `JSON.parse + schema refuse ${text} too`).to.equal(false);
    }
    expect(await usage(changedRangesPaths(join(dir, 'missing.json')))).to.match(/^USAGE: .*cannot read JSON/);
  });

  it('replicates with a file of a million ranges, sends exactly the changed blocks, in the memory a thousand ranges need', async function () {
    this.timeout(300_000);
    const { int, seed } = seeded('changed-ranges-million');
    const B = 4096;
    const size = 64 * MiB;
    const src = join(dir, 'disk.raw');
    const rep = join(dir, 'replica');
    const base = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4096) base.writeUInt32LE(int(0, 2 ** 32 - 1), i);
    await writeFile(src, base);
    const cli = async (args: string[]): Promise<{ json: { Generation: number; BlocksChanged: number }; maxRssKiB: number }> => {
      const r = await run(process.execPath, ['-r', 'ts-node/register', CHILD, ...args, '--json'], { cwd: ROOT, env: { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true' } });
      expect(r.exitCode, r.stderr).to.equal(0);
      const m = /MAXRSS (\d+)/.exec(r.stderr);
      expect(m, r.stderr).to.not.equal(null);
      return { json: JSON.parse(r.stdout) as { Generation: number; BlocksChanged: number }, maxRssKiB: Number(m![1]) };
    };
    expect((await cli(['replicate', src, '--to', rep, '--block-size', String(B)])).json.Generation).to.equal(1);

    // One cycle: `count` ranges (seeded, overlapping, unsorted); the source changes inside some of them only.
    const cycle = async (count: number): Promise<{ maxRssKiB: number }> => {
      const file = join(dir, `ranges-${count}.json`);
      const out = createWriteStream(file);
      out.write(`[{"Path":${JSON.stringify(src)},"Ranges":[`);
      const fh = await open(src, 'r+');
      const changedBlocks = new Set<number>();
      const flipped = new Set<number>();
      for (let i = 0; i < count; i++) {
        const length = int(1, 3 * B);
        const offset = int(0, size - length);
        if (!out.write(`${i === 0 ? '' : ','}{"Offset":${offset},"Length":${length}}`)) await once(out, 'drain');
        if (i % Math.max(1, Math.floor(count / 500)) === 0) {
          const at = offset + int(0, length - 1);
          if (!flipped.has(at)) {
            // A real change inside a listed range: flip one byte (never the same byte twice).
            flipped.add(at);
            const one = Buffer.alloc(1);
            await fh.read(one, 0, 1, at);
            one[0] ^= 0xff;
            await fh.write(one, 0, 1, at);
            changedBlocks.add(Math.floor(at / B));
          }
        }
      }
      await fh.close();
      out.end(']}]');
      await once(out, 'finish');
      const r = await cli(['replicate', src, '--to', rep, '--changed-ranges', file]);
      expect(await sameBytes(src, join(rep, 'disk.raw')), `replica equals the source after ${count} ranges (seed ${seed})`).to.equal(true);
      // Every changed block, and only those (a flipped byte always changes a block's hash).
      expect(r.json.BlocksChanged, `seed ${seed}`).to.equal(changedBlocks.size);
      return r;
    };
    const small = await cycle(1000);
    const large = await cycle(1_000_000);
    process.stderr.write(`      max RSS: ${Math.round(small.maxRssKiB / 1024)} MiB with 1,000 ranges, ${Math.round(large.maxRssKiB / 1024)} MiB with 1,000,000 (seed ${seed})\n`);
    // JSON.parse of the 1M-range file (~40 MB of text) alone would need well over 100 MiB more.
    expect(large.maxRssKiB - small.maxRssKiB, 'extra memory for 1,000,000 ranges (KiB)').to.be.below(48 * 1024);
  });
});
