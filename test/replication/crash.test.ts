import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { replicateLocal } from '../../src/replication';
import { createVhdx, qemuWrites } from '../helpers/qemu';
import { seeded } from '../helpers/seed';
import { keepCopy } from '../helpers/files';
import { tempDir } from '../helpers/tmp';
import { openLocalStore } from './stream-tools';

const MiB = 1 << 20;
const ROOT = resolve(__dirname, '../..');
const CLI = join(ROOT, 'bin', 'vmmirror.js');

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

// Runs a child and optionally SIGKILLs it after `killAfterMs` (a crash at a random instant).
function runChild(cmd: string, args: string[], env: Record<string, string>, killAfterMs?: number): Promise<ChildResult> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('error', rej);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      res({ code, signal, stdout, stderr });
    });
  });
}

describe('replication crash safety (SIGKILL at seeded points)', function () {
  this.timeout(600_000);
  let dir: string;
  let cleanup: () => Promise<void>;
  let src: string;
  let genN: string;
  let genN1: string;
  let template: string;
  let blocks = 0;

  before(async function () {
    if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does) before the crash tests');
    ({ dir, cleanup } = await tempDir());
    src = join(dir, 'disk.vhdx');
    template = join(dir, 'template');
    await createVhdx(src, { sizeBytes: 48 * MiB, subformat: 'dynamic', blockSizeBytes: MiB });
    await qemuWrites(src, [
      { offset: 0, length: 3 * MiB, pattern: 0x10 },
      { offset: 20 * MiB, length: MiB, pattern: 0x11 },
    ]);
    await replicateLocal({ sources: [src], toDir: template });
    genN = await keepCopy(src, join(dir, 'gen-n.vhdx'));
    // Generation N+1 rewrites existing blocks and allocates new ones (the file grows).
    await qemuWrites(src, [
      { offset: MiB, length: 2 * MiB, pattern: 0x20 },
      { offset: 30 * MiB, length: 3 * MiB, pattern: 0x21 },
      { offset: 47 * MiB, length: 4096, pattern: 0x22 },
    ]);
    genN1 = await keepCopy(src, join(dir, 'gen-n1.vhdx'));
    const probe = join(dir, 'probe');
    await cp(template, probe, { recursive: true });
    blocks = (await replicateLocal({ sources: [src], toDir: probe })).blocksChanged;
    expect(blocks).to.be.greaterThan(50);
  });
  after(async () => {
    await cleanup();
  });

  // After recovery the replica is generation N or N+1 byte for byte, and its state says which.
  async function assertWholeGeneration(rep: string, label: string): Promise<number> {
    const store = await openLocalStore(rep, [{ name: 'disk.vhdx' }]);
    const generation = store.state().Generation;
    await store.close();
    const bytes = await readFile(join(rep, 'disk.vhdx'));
    const expected = await readFile(generation === 1 ? genN : genN1);
    expect([1, 2], label).to.include(generation);
    expect(bytes.equals(expected), `${label}: replica at generation ${generation} is not that generation's bytes`).to.equal(true);
    return generation;
  }

  const points = ['receive-block', 'before-commit', 'after-commit', 'apply-resized', 'apply-block', 'apply-synced', 'after-state', 'send-block'];

  it('never leaves a torn replica when the replicating process is killed at 60 seeded points', async () => {
    const { seed, rand } = seeded('crash-points');
    const outcomes = { 1: 0, 2: 0 } as Record<number, number>;
    for (let run = 0; run < 60; run++) {
      const rep = join(dir, `run-${run}`);
      await cp(template, rep, { recursive: true });
      let env: Record<string, string> = {};
      let killAfter: number | undefined;
      let what: string;
      if (run < 48) {
        const point = points[run % points.length];
        const n = point.endsWith('block') ? 1 + Math.floor(rand() * blocks) : 1;
        env = { VMMIRROR_CRASHPOINT: `${point}:${n}` };
        what = `${point}:${n}`;
      } else {
        killAfter = Math.floor(rand() * 400);
        what = `random kill after ${killAfter} ms`;
      }
      const r = await runChild(process.execPath, [CLI, 'replicate', src, '--to', rep, '--json'], env, killAfter);
      const label = `seed ${seed}, run ${run} (${what}), exit ${r.code}/${r.signal}`;
      if (run < 48) expect(r.signal, `${label}: the crashpoint must fire`).to.equal('SIGKILL');

      const generation = await assertWholeGeneration(rep, label);
      outcomes[generation] += 1;

      await replicateLocal({ sources: [src], toDir: rep });
      expect((await readFile(join(rep, 'disk.vhdx'))).equals(await readFile(genN1)), `${label}: next cycle converges`).to.equal(true);
      await rm(rep, { recursive: true, force: true });
    }
    process.stderr.write(`      crash outcomes: ${outcomes[1]} stayed on N, ${outcomes[2]} completed N+1 (seed ${seed})\n`);
    expect(outcomes[1], 'some crashes must land before the commit').to.be.greaterThan(0);
    expect(outcomes[2], 'some crashes must land after the commit').to.be.greaterThan(0);
  });
});

describe('replication sender crash safety (DESIGN I2)', function () {
  this.timeout(300_000);
  const child = join(__dirname, 'fixtures', 'cycle-child.ts');
  const tsNode = ['-r', 'ts-node/register', child];
  const env = { TS_NODE_TRANSPILE_ONLY: 'true' };

  async function setBlock(path: string, index: number, value: number): Promise<void> {
    const fh = await open(path, 'r+');
    await fh.write(Buffer.alloc(4096, value), 0, 4096, index * 4096);
    await fh.close();
  }

  it('resends a block that changed back to its old value after the sender crashed between the commit and its own bookkeeping', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const src = join(dir, 'disk.raw');
      const rep = join(dir, 'replica');
      const cache = join(dir, 'cache');
      await mkdir(rep);
      await writeFile(src, Buffer.alloc(64 * 4096, 0x41));
      const first = await runChild(process.execPath, [...tsNode, src, rep, cache], env);
      expect(first.code, first.stderr).to.equal(0);

      await setBlock(src, 7, 0x42); // A -> B
      const crashed = await runChild(process.execPath, [...tsNode, src, rep, cache], { ...env, VMMIRROR_CRASHPOINT: 'sender-before-advance:1' });
      expect(crashed.signal).to.equal('SIGKILL');
      expect((await readFile(join(rep, 'disk.raw')))[7 * 4096], 'S committed B').to.equal(0x42);

      await setBlock(src, 7, 0x41); // B -> A: equal to what P's stale copy says S holds
      const next = await runChild(process.execPath, [...tsNode, src, rep, cache], env);

      expect(next.code, next.stderr).to.equal(0);
      expect(JSON.parse(next.stdout).fetched, 'P noticed its copy was stale and fetched S manifest').to.deep.equal(['disk.raw']);
      expect((await readFile(join(rep, 'disk.raw'))).equals(await readFile(src)), 'the replica equals the source').to.equal(true);
    } finally {
      await cleanup();
    }
  });

  it('converges after the sender is killed while sending, at seeded points', async () => {
    const { seed, rand } = seeded('sender-crash');
    const { dir, cleanup } = await tempDir();
    try {
      const src = join(dir, 'disk.raw');
      const rep = join(dir, 'replica');
      const cache = join(dir, 'cache');
      await mkdir(rep);
      await writeFile(src, Buffer.alloc(256 * 4096, 0x30));
      expect((await runChild(process.execPath, [...tsNode, src, rep, cache], env)).code).to.equal(0);
      for (let run = 0; run < 4; run++) {
        for (let k = 0; k < 40; k++) await setBlock(src, Math.floor(rand() * 256), 1 + Math.floor(rand() * 250));
        const point = run % 2 === 0 ? `send-block:${1 + Math.floor(rand() * 20)}` : 'sender-before-advance:1';
        const crashed = await runChild(process.execPath, [...tsNode, src, rep, cache], { ...env, VMMIRROR_CRASHPOINT: point });
        expect(crashed.signal, `seed ${seed} run ${run} ${point}`).to.equal('SIGKILL');
        const next = await runChild(process.execPath, [...tsNode, src, rep, cache], env);
        expect(next.code, next.stderr).to.equal(0);
        expect((await readFile(join(rep, 'disk.raw'))).equals(await readFile(src)), `seed ${seed} run ${run}: converged`).to.equal(true);
      }
    } finally {
      await cleanup();
    }
  });
});
