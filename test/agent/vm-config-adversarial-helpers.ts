import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import { VM_CONFIG_LIMITS, VmConfigCommit } from '../../src/agent/messages';
import { VmConfigStore } from '../../src/agent/vm-config-store';
import { hasCode, type ErrorCode } from '../../src/errors';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';

// What the adversarial vm-config tests share (vm-config-adversarial*.test.ts): a store per case
// in a fresh folder, commit bodies as a lying peer would write them, seeded bytes.

export const VM = '0f8fad5b-d9cb-469f-a165-70867728950e';
export const OTHER = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
export const MiB = 1024 * 1024;
export const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
export type File = { name: string; data: Buffer };
type Commit = z.output<typeof VmConfigCommit.body>;

export async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<Error> {
  const err = await p.then(() => null, (e: unknown) => e as Error);
  expect(err, `expected ${code}`).to.not.equal(null);
  expect(hasCode(err, code), String(err)).to.equal(true);
  return err!;
}

/** A commit of `files` (sizes and digests of their bytes) for module web1, epoch 5, VM `VM`, unless `extra` says otherwise. */
export function body(t: string, files: File[], extra: Partial<z.input<typeof VmConfigCommit.body>> = {}): Commit {
  return VmConfigCommit.body.parse({
    module: 'web1', epoch: 5, transfer: t, vmId: VM, configHash: sha(Buffer.from(t)), disks: ['web1.vhdx'], adapters: [],
    files: files.map((f) => ({ name: f.name, size: f.data.length, sha256: sha(f.data) })), ...extra,
  });
}

/** Sends `files` as the runner does: in order, parts of at most the part limit. */
export async function send(store: VmConfigStore, t: string, files: File[]): Promise<void> {
  for (const [i, f] of files.entries()) {
    for (let off = 0; off < f.data.length; off += VM_CONFIG_LIMITS.partBytes) await store.putPart('web1', t, i, off, f.data.subarray(off, off + VM_CONFIG_LIMITS.partBytes));
  }
}

/** Every path under `dir`, relative (to see that nothing landed outside the module's folder). */
export async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

/** Seeded helpers and a work folder for one suite (call inside its describe: it registers before/after). */
export function adversary(label: string): {
  rnd: ReturnType<typeof seeded>;
  transfer: () => string;
  bytes: (len: number) => Buffer;
  vmcx: (data?: Buffer) => File;
  work: () => string;
  freshStore: (name: string) => Promise<{ store: VmConfigStore; dir: string }>;
} {
  const rnd = seeded(label);
  let n = 0;
  let work = '';
  let cleanup: () => Promise<void> = async () => undefined;
  before(async () => {
    process.stderr.write(`      seed ${rnd.seed}\n`);
    ({ dir: work, cleanup } = await tempDir('vmmirror-xr-'));
  });
  after(() => cleanup());
  const bytes = (len: number): Buffer => Buffer.from(Array.from({ length: len }, () => rnd.int(0, 255)));
  return {
    rnd,
    transfer: () => (++n).toString(16).padStart(32, 'a'),
    bytes,
    vmcx: (data = bytes(rnd.int(1, 3000))) => ({ name: `Virtual Machines/${VM}.vmcx`, data }),
    work: () => work,
    freshStore: async (name) => {
      const dir = join(work, name);
      await mkdir(dir, { recursive: true });
      return { dir, store: new VmConfigStore({ dataDir: dir, modules: [{ name: 'web1' }] as never }) };
    },
  };
}
