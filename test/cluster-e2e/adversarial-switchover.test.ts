import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OperatorSwitchover } from '../../src/agent/cluster/operator-switchover';
import { ClusterRuntime } from '../../src/agent/cluster/runtime';
import { Switchover, type SwitchoverDeps, type SwitchoverFigures } from '../../src/agent/cluster/switchover';
import { initialSnapshot, type Effect } from '../../src/cluster';
import type { LoadedConfig } from '../../src/config';
import { VmmirrorError } from '../../src/errors';
import type { Hypervisor, Readiness } from '../../src/hypervisor/types';
import { componentLogger } from '../../src/log';
import type { PeerConnection } from '../../src/peer';
import { BASE_SETTINGS } from '../cluster/scenario-runner';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';

// Adversarial review of the operator's planned switchover (`vmmirror failover`), at agent level
// (the suite's time goes to labs elsewhere; the SIGKILLs mid-handover of the same handover are
// adversarial-kills 1c/1d): the real runtime and step(), the real Switchover's bookkeeping of who
// waits for which move (only its network pull is replaced, by a move this test finishes), and the
// real checks. Attacks: two `vmmirror failover` of one module at once (both on the replica host,
// or one of them asked by the owner over the wire: switchover.ask), and a switchover.ask from the
// peer for a module this host owns, at the wrong epoch, or naming nothing.

const log = componentLogger('test');

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const FIGURES: SwitchoverFigures = { module: 'web', from: 'b', to: 'a', epoch: 4, fromGeneration: 9, generation: 11, stopMs: 10, syncMs: 20, startMs: 30, downtimeMs: 60, finalBytes: 4096, at: new Date('2026-12-01T10:00:00Z') };

async function world(o: { webResyncing?: boolean } = {}) {
  const t = await tempDir('vmmirror-adv-sw-');
  const clock = { now: 1000 };
  const modules = [
    { name: 'web', vmName: 'WEB', defaultPrimary: 'b', policies: { stopTimeoutSeconds: 60, startTimeoutSeconds: 60 }, hooks: {} },
    { name: 'db', vmName: 'DB', defaultPrimary: 'a', policies: { stopTimeoutSeconds: 60, startTimeoutSeconds: 60 }, hooks: {} },
  ];
  const config = { self: { Name: 'a' }, peer: { Name: 'b' }, modules, dataDir: t.dir, agent: { CycleTimeoutSeconds: 60 } } as unknown as LoadedConfig;
  const snap = initialSnapshot({
    self: 'a',
    peerName: 'b',
    settings: BASE_SETTINGS,
    now: clock.now,
    modules: modules.map((m) => ({ name: m.name, defaultPrimary: m.defaultPrimary, failback: 'manual' as const, fenceMode: 'TurnOff' as const })),
    // web runs on b (a holds its replica); db runs here on a.
    records: {
      web: o.webResyncing === true ? { Version: 1, Module: 'web', State: 'WAIT', WaitReason: 'resync', Epoch: 3, Owner: 'b', Generation: 9 } : { Version: 1, Module: 'web', State: 'SECOND', WaitReason: null, Epoch: 3, Owner: 'b', Generation: 9 },
      db: { Version: 1, Module: 'db', State: 'PRIM', WaitReason: null, Epoch: 3, Owner: 'a', Generation: 9 },
    },
    vms: { db: 'running' },
  });
  const failbacks: Effect[] = [];
  let switchover!: Switchover;
  const rt = new ClusterRuntime(
    snap,
    {
      // The effect runner's part for a failback: it hands the move to the Switchover, later.
      effects: (es) => {
        for (const e of es) {
          if (e.type !== 'failback') continue;
          failbacks.push(e);
          setImmediate(() => void switchover.failback(e.module, e.epoch).catch(() => undefined));
        }
      },
      changed: () => undefined,
    },
    log,
    () => clock.now,
  );
  const view = (owner: string, state: 'PRIM' | 'SECOND', vm: 'running' | 'off') => ({ state, epoch: 3, owner, generation: 9, vm });
  rt.dispatch({ type: 'peer-heartbeat', path: 'primary', modules: { web: view('b', 'PRIM', 'running'), db: view('a', 'SECOND', 'off') }, answer: { askedAt: clock.now - 5, grantedMs: 5000 } });
  switchover = new Switchover({ config, rt, log } as unknown as SwitchoverDeps);
  // Only the network part of the move is replaced: it ends when the test says so.
  const moves: Deferred<SwitchoverFigures>[] = [];
  (switchover as unknown as { pull(): Promise<SwitchoverFigures> }).pull = () => {
    const d = deferred<SwitchoverFigures>();
    moves.push(d);
    return d.promise;
  };
  // Readiness answers in the order the test releases it (the hypervisor is slow for one caller).
  const readiness: Deferred<Readiness>[] = [];
  const judgedDirs: string[] = [];
  const control = {
    getVm: async () => ({ id: 'x', memoryBytes: 1024 }),
    // The export is a file in the folder the agent names: its judge must still find it there.
    exportConfig: async (_id: string, dir: string) => (await writeFile(join(dir, 'export.vmcx'), 'config'), { vmId: 'x', configDir: dir, files: [] }),
    checkReadiness: (dir: string) => {
      const d = deferred<Readiness>();
      readiness.push(d);
      judgedDirs.push(dir);
      return d.promise;
    },
  } as unknown as Hypervisor;
  const connection = async () => ({ request: async () => ({ checks: [], figures: null }) }) as unknown as PeerConnection;
  const op = new OperatorSwitchover({ config, rt, switchover, control, vmIdOf: async () => 'x', connection, log });
  const ready: Readiness = { canStart: true, issues: [], freeMemoryBytes: 4096 };
  /** Waits until `cond` holds (a fake was called, a promise ended): the deadline only bounds a failure. */
  const until = async (what: string, cond: () => boolean): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  return { op, rt, failbacks, moves, readiness, judgedDirs, ready, until, cleanup: async () => (rt.stop(), t.cleanup()) };
}

/** Tracks a promise's end without awaiting it: a move that never answers must show as "pending", not hang the test. */
function watch<T>(p: Promise<T>): { state: 'pending' | 'done' | 'refused'; value?: T; err?: VmmirrorError } {
  const w: { state: 'pending' | 'done' | 'refused'; value?: T; err?: VmmirrorError } = { state: 'pending' };
  p.then(
    (v) => Object.assign(w, { state: 'done', value: v }),
    (err: VmmirrorError) => Object.assign(w, { state: 'refused', err }),
  );
  return w;
}

describe('adversarial: two planned switchovers of one module at once, and a hostile switchover.ask (agent level)', () => {
  const rng = seeded('adversarial switchover');
  before(() => void process.stderr.write(`      seed ${rng.seed}\n`));

  for (const second of ['local', 'asked by the owner'] as const) {
    it(`two failovers of web at once (the second ${second}), the first one's move already under way when the second's checks end: one move, the second refused at once, never left waiting`, async () => {
      const w = await world();
      try {
        const one = watch(w.op.run('web', { action: 'failover', whatIf: false }));
        const two = watch(second === 'local' ? w.op.run('WEB', { action: 'failover', whatIf: false }) : w.op.answerAsk({ module: 'web', epoch: 3, whatIf: false }));
        // Both are past replica-here (judged at once); whichever reaches the hypervisor first has
        // its checks end first: the machine takes it and the move starts (its waiter is taken).
        await w.until('one checking readiness', () => w.readiness.length >= 1);
        w.readiness[0]!.resolve(w.ready);
        await w.until('the move under way', () => w.moves.length === 1);
        expect(w.failbacks).to.deep.equal([{ type: 'failback', module: 'web', epoch: 3 }]);
        // Now the other's (slow) readiness answers: it must end, refused, while the move goes on.
        await w.until('the other checking readiness', () => w.readiness.length === 2);
        w.readiness[1]!.resolve(w.ready);
        await w.until('the other command to end (a refusal), the move still going', () => one.state !== 'pending' || two.state !== 'pending');
        expect(w.failbacks.length, 'one move only').to.equal(1);
        const [refused, moving] = one.state !== 'pending' ? [one, two] : [two, one];
        const refusal = refused.err?.code ?? ((refused.value as { figures: unknown } | undefined)?.figures === null ? 'refused in the reply' : 'moved');
        expect(refusal, String(refused.err)).to.be.oneOf(['SWITCHOVER_REFUSED', 'refused in the reply']);
        // The move ends: the one it belongs to reports it.
        w.moves[0]!.resolve(FIGURES);
        await w.until('the mover to report', () => moving.state !== 'pending');
        expect(moving.state, String(moving.err)).to.equal('done');
        expect((moving.value as { figures: { epoch: number } | null }).figures?.epoch).to.equal(4);
      } finally {
        await w.cleanup();
      }
    });
  }

  it('a second failover of web asked over the wire once the first was taken: refused on replica-here, one move', async () => {
    const w = await world();
    try {
      const first = watch(w.op.run('web', { action: 'failover', whatIf: false }));
      await w.until('the first checking readiness', () => w.readiness.length === 1);
      w.readiness[0]!.resolve(w.ready);
      await w.until('the move under way', () => w.moves.length === 1);
      const other = watch(w.op.answerAsk({ module: 'web', epoch: 3, whatIf: false }));
      await w.until('the second checking readiness', () => w.readiness.length === 2);
      w.readiness[1]!.resolve(w.ready);
      await w.until('the second to answer', () => other.state !== 'pending');
      const reply = other.value as { checks: { name: string; passed: boolean }[]; figures: unknown };
      expect({ figures: reply.figures, failed: reply.checks.filter((c) => !c.passed).map((c) => c.name) }).to.deep.equal({ figures: null, failed: ['replica-here', 'in-sync'] });
      expect(w.failbacks.length).to.equal(1);
      w.moves[0]!.resolve(FIGURES);
      await w.until('the first to report', () => first.state !== 'pending');
      expect(first.state).to.equal('done');
    } finally {
      await w.cleanup();
    }
  });

  it('two --what-if of web at once (here, and relayed by the owner): each readiness judge still finds the export it was given (one judgement at a time per module)', async () => {
    const w = await world();
    try {
      const here = watch(w.op.run('web', { action: 'failover', whatIf: true }));
      const asked = watch(w.op.answerAsk({ module: 'web', epoch: 3, whatIf: true }));
      const found: boolean[] = [];
      for (let i = 0; i < 2; i++) {
        await w.until(`readiness check ${i + 1}`, () => w.readiness.length > i);
        // The judge reads the folder now; then the other command's turn comes.
        found.push(existsSync(join(w.judgedDirs[i]!, 'export.vmcx')));
        w.readiness[i]!.resolve(w.ready);
        await w.until(`command ${i + 1} to answer`, () => [here, asked].filter((x) => x.state !== 'pending').length > i);
      }
      expect(found, 'each judge found its export').to.deep.equal([true, true]);
      expect([here.state, asked.state]).to.deep.equal(['done', 'done']);
      expect(w.failbacks).to.deep.equal([]);
    } finally {
      await w.cleanup();
    }
  });

  it('a failover during a resync of this copy (WAIT resync), asked here or by the owner: refused on replica-here and in-sync, nothing asked of the machine', async () => {
    const w = await world({ webResyncing: true });
    try {
      expect(w.rt.snapshot.modules.web!.state).to.equal('WAIT');
      const here = watch(w.op.run('web', { action: 'failover', whatIf: false }));
      const asked = watch(w.op.answerAsk({ module: 'web', epoch: 3, whatIf: false }));
      for (let i = 0; i < 2; i++) {
        await w.until('a readiness check', () => w.readiness.length > i);
        w.readiness[i]!.resolve(w.ready);
      }
      await w.until('both answers', () => here.state !== 'pending' && asked.state !== 'pending');
      expect(here.err?.code).to.equal('SWITCHOVER_REFUSED');
      expect(((here.err?.details.Checks ?? []) as { Name: string; Passed: boolean }[]).filter((c) => !c.Passed).map((c) => c.Name)).to.deep.equal(['replica-here', 'in-sync']);
      const reply = asked.value as { checks: { name: string; passed: boolean }[]; figures: unknown };
      expect({ figures: reply.figures, failed: reply.checks.filter((c) => !c.passed).map((c) => c.name) }).to.deep.equal({ figures: null, failed: ['replica-here', 'in-sync'] });
      expect(w.failbacks).to.deep.equal([]);
    } finally {
      await w.cleanup();
    }
  });

  it('a switchover.ask from the peer for a module this host owns (db), at another epoch, or naming no module: refused, the machine never asked', async () => {
    const w = await world();
    try {
      const owned = watch(w.op.answerAsk({ module: 'db', epoch: 3, whatIf: false }));
      await w.until('readiness asked', () => w.readiness.length === 1);
      w.readiness[0]!.resolve(w.ready);
      await w.until('the answer', () => owned.state !== 'pending');
      expect(owned.state).to.equal('done');
      const r = owned.value as { checks: { name: string; passed: boolean }[]; figures: unknown };
      expect(r.figures).to.equal(null);
      expect(r.checks.filter((c) => !c.passed).map((c) => c.name)).to.include.members(['runs-on-peer', 'replica-here']);
      const stale = await w.op.answerAsk({ module: 'web', epoch: 2 + rng.int(2, 5), whatIf: false });
      expect({ figures: stale.figures, checks: stale.checks.map((c) => [c.name, c.passed]) }).to.deep.equal({ figures: null, checks: [['same-epoch', false]] });
      for (const name of ['nothing', 'web; Stop-Computer', '']) {
        const e = await w.op.answerAsk({ module: name, epoch: 3, whatIf: false }).then(
          () => null,
          (err: VmmirrorError) => err,
        );
        expect(e?.code, JSON.stringify(name)).to.equal('MODULE_NOT_FOUND');
      }
      expect(w.failbacks).to.deep.equal([]);
      expect(w.rt.snapshot.modules.db!.state).to.equal('PRIM');
    } finally {
      await w.cleanup();
    }
  });
});

