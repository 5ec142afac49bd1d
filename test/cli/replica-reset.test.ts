import { expect } from 'chai';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ReplicaResetOutput } from '../../src/cli/commands/replica';
import { ErrorDocument } from '../../src/cli/output';
import { LOCAL_MODULE, ReplicaStore, STATE_FOLDER, replicateLocal } from '../../src/replication';
import { resetReplica } from '../../src/replication/replica/reset';
import { createVhdx, qemuCheck, qemuCompare, qemuWrites } from '../helpers/qemu';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';
import { vmmirror } from './vmmirror-process';

// Dead ends a replica folder's own state can reach, each of which used to fail every run forever:
// each gives a clear REPLICA_INVALID that names the way out, `vmmirror replica reset` gets out,
// and the next run converges (qemu-img compare) sending only what differs.

const MiB = 1 << 20;

function oneJson(stdout: string): unknown {
  const lines = stdout.trim().split('\n');
  expect(lines, 'stdout holds one line of JSON').to.have.length(1);
  return JSON.parse(lines[0]);
}

interface Fixture {
  dir: string;
  src: string;
  rep: string;
  cleanup: () => Promise<void>;
}

async function seededReplica(label: string): Promise<Fixture> {
  const { int } = seeded(`replica-reset-${label}`);
  const { dir, cleanup } = await tempDir();
  const src = join(dir, 'disk.vhdx');
  const rep = join(dir, 'replica');
  await createVhdx(src, { sizeBytes: 16 * MiB, subformat: 'dynamic', blockSizeBytes: MiB });
  await qemuWrites(src, [
    { offset: 0, length: MiB, pattern: int(1, 200) },
    { offset: 5 * MiB, length: 2 * MiB, pattern: int(1, 200) },
  ]);
  const r = await replicateLocal({ sources: [src], toDir: rep });
  expect(r.generation).to.equal(1);
  return { dir, src, rep, cleanup };
}

async function statePatch(rep: string, patch: (state: Record<string, unknown>) => void): Promise<void> {
  const path = join(rep, STATE_FOLDER, 'state.json');
  const state = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  patch(state);
  await writeFile(path, JSON.stringify(state));
}

async function expectDeadEnd(f: Fixture): Promise<void> {
  const r = await vmmirror(['replicate', f.src, '--to', f.rep, '--json']);
  expect(r.exitCode, r.stdout + r.stderr).to.equal(4);
  const err = ErrorDocument.parse(oneJson(r.stdout)).Error;
  expect(err.Code).to.equal('REPLICA_INVALID');
  expect(err.Message, 'the message names the way out').to.contain('vmmirror replica reset');
  // --rehash cannot help: the state is read before anything is rehashed.
  let again: string | undefined;
  try {
    await replicateLocal({ sources: [f.src], toDir: f.rep, rehash: true });
  } catch (e) {
    again = (e as { code?: string }).code;
  }
  expect(again).to.equal('REPLICA_INVALID');
}

async function resetAndConverge(f: Fixture): Promise<{ blocksChanged: number }> {
  const r = await vmmirror(['replica', 'reset', f.rep, '--json']);
  expect(r.exitCode, r.stdout + r.stderr).to.equal(0);
  const out = ReplicaResetOutput.parse(oneJson(r.stdout));
  expect(out.Rehashed.map((x) => x.Name)).to.deep.equal(['disk.vhdx']);
  expect(out.Discarded).to.include('manifests/disk.vhdx.manifest');
  const next = await replicateLocal({ sources: [f.src], toDir: f.rep });
  expect(next.rehashed, 'reset left manifests that match the files').to.deep.equal([]);
  expect((await qemuCompare(f.src, join(f.rep, 'disk.vhdx'))).same, 'the replica converges').to.equal(true);
  expect((await qemuCheck(join(f.rep, 'disk.vhdx'))).ok).to.equal(true);
  return { blocksChanged: next.blocksChanged };
}

describe('cli: vmmirror replica reset, the way out of dead ends', function () {
  this.timeout(180_000);

  const stateDamage: Array<{ label: string; damage: (rep: string) => Promise<void> }> = [
    { label: 'an empty state.json', damage: (rep) => writeFile(join(rep, STATE_FOLDER, 'state.json'), '') },
    { label: 'a state.json that is not JSON', damage: (rep) => writeFile(join(rep, STATE_FOLDER, 'state.json'), '{"Version":1,"Gen') },
    { label: 'a state.json of another module', damage: (rep) => statePatch(rep, (s) => (s.Module = 'renamed')) },
    { label: 'an unreadable BlockSize in state.json', damage: (rep) => statePatch(rep, (s) => (s.BlockSize = '64K')) },
  ];
  for (const c of stateDamage) {
    it(`gets out of ${c.label}; the next run sends no block of an unchanged source`, async () => {
      const f = await seededReplica(c.label);
      try {
        await c.damage(f.rep);
        await expectDeadEnd(f);
        const { blocksChanged } = await resetAndConverge(f);
        expect(blocksChanged, 'only what differs is sent: nothing').to.equal(0);
      } finally {
        await f.cleanup();
      }
    });
  }

  it('gets out of a damaged committed journal left by a crash during apply; only what differs is sent', async () => {
    const f = await seededReplica('damaged-journal');
    try {
      await qemuWrites(f.src, [
        { offset: 0, length: MiB, pattern: 0xa5 },
        { offset: 10 * MiB, length: 2 * MiB, pattern: 0x5a },
      ]);
      // What the whole change costs: the same cycle into a copy of the replica.
      const copy = join(f.dir, 'copy');
      await cp(f.rep, copy, { recursive: true });
      const whole = (await replicateLocal({ sources: [f.src], toDir: copy })).blocksChanged;
      // SIGKILL in the middle of applying (the first runs are written, the last is not): the
      // journal is committed, the replica half written.
      const crashed = await vmmirror(['replicate', f.src, '--to', f.rep, '--json'], { VMMIRROR_CRASHPOINT: 'apply-block:40' });
      expect(crashed.exitCode, crashed.stderr).to.not.equal(0);
      const journal = join(f.rep, STATE_FOLDER, 'journal.data');
      const bytes = await readFile(journal);
      bytes[bytes.length >> 1] ^= 0xff;
      await writeFile(journal, bytes);
      await expectDeadEnd(f);
      const { blocksChanged } = await resetAndConverge(f);
      // The sent blocks are those the crash left unwritten: more than none, fewer than the change.
      expect(blocksChanged).to.be.greaterThan(0);
      expect(blocksChanged, `${whole} blocks for the whole change`).to.be.lessThan(whole);
    } finally {
      await f.cleanup();
    }
  });

  for (const [label, text] of [
    ['empty', ''],
    ['non-numeric', 'not a pid\n'],
  ] as const) {
    it(`needs no reset for an ${label} lock file: the next run takes it over`, async () => {
      const f = await seededReplica(`lock-${label}`);
      try {
        await writeFile(join(f.rep, STATE_FOLDER, 'lock'), text);
        const r = await vmmirror(['replicate', f.src, '--to', f.rep, '--json']);
        expect(r.exitCode, r.stdout + r.stderr).to.equal(0);
        expect((await qemuCompare(f.src, join(f.rep, 'disk.vhdx'))).same).to.equal(true);
      } finally {
        await f.cleanup();
      }
    });
  }

  it('refuses to reset a replica another writer has open (REPLICA_LOCKED) and changes nothing', async () => {
    const f = await seededReplica('locked');
    try {
      const targets = [{ name: 'disk.vhdx', path: join(f.rep, 'disk.vhdx'), maxBytes: Number.MAX_SAFE_INTEGER }];
      const store = await ReplicaStore.open({ stateDir: join(f.rep, STATE_FOLDER), module: LOCAL_MODULE, targets });
      const state = await readFile(join(f.rep, STATE_FOLDER, 'state.json'), 'utf8');
      let code: string | undefined;
      try {
        await resetReplica({ stateDir: join(f.rep, STATE_FOLDER), module: LOCAL_MODULE, targets });
      } catch (err) {
        code = (err as { code?: string }).code;
      } finally {
        await store.close();
      }
      expect(code).to.equal('REPLICA_LOCKED');
      expect(await readFile(join(f.rep, STATE_FOLDER, 'state.json'), 'utf8')).to.equal(state);
    } finally {
      await f.cleanup();
    }
  });
});
