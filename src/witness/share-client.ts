import { monoNow } from '../util/mono';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { LeaseTimings } from '../cluster/lease';
import type { ClaimAnswer, ClaimKind } from '../cluster/witness-rules';
import { Name } from '../config/common';
import { ConfigError, fromNodeError, VmmirrorError } from '../errors';
import { componentLogger, type Logger } from '../log';
import type { WitnessClient, WitnessClientTimings, WitnessEvent } from './events';
import { Epoch } from './schema';
import { createEpochFile, readHighest, readWinner, shareFolder } from './share-epochs';
import { ABSENT, concludeCreated, concludeLost, observe, observedExpired, planClaim, type EpochRecord, type Observations } from './share-rules';

// The file-share witness (cluster.json Witness.Kind FileShare): the same client interface as the
// `vmmirror witness` one, over a folder both hosts can write. Layout (docs/witness.md):
//   <share>/leases/<host>.json             this host's lease counter, replaced by rename each renewal
//   <share>/modules/<module>/epoch-<n>.json  created exclusively ('wx'): its first creator decides
//                                            epoch n's Owner (itself, or the peer on a handover)
// Folder and file names come only from this host's own validated config (host names, module
// names) and from numbers; never from what the share contains.

export const LeaseRecord = z.object({ Host: Name, Incarnation: z.string().regex(/^[0-9a-f]{32}$/), Counter: z.number().int().min(1) }).strict();
export { EpochFile } from './share-epochs';

export interface ShareWitnessClientOptions extends WitnessClientTimings {
  path: string;
  hostName: string;
  peerName: string;
  /** This host's module names (its own config): their epochs are checked on each renewal. */
  modules: string[];
  timings: LeaseTimings;
  now?: () => number;
  logger?: Logger;
}

export class ShareWitnessClient extends EventEmitter implements WitnessClient {
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly incarnation = randomBytes(16).toString('hex');
  private counter = 0;
  private obs: Observations = {};
  private timer: NodeJS.Timeout | undefined;
  private renewing = false;
  private closed = false;

  constructor(private readonly o: ShareWitnessClientOptions) {
    super();
    for (const n of [o.hostName, o.peerName, ...o.modules]) {
      if (!Name.safeParse(n).success) throw new ConfigError('CONFIG_INVALID', `file-share witness: ${JSON.stringify(n)} is not a valid name`);
    }
    this.now = o.now ?? monoNow;
    this.log = o.logger ?? componentLogger('witness-share', { host: o.hostName });
  }

  start(): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = setInterval(() => void this.renew(), this.o.renewIntervalMs);
    void this.renew();
  }

  claim(module: string, epoch: number, kind: ClaimKind, to?: string): void {
    void this.withTimeout(this.doClaim(module, epoch, kind, to)).then(
      (a) => this.emitEvent({ type: 'witness-claim', now: this.now(), module, epoch, granted: a.granted, current: { epoch: a.epoch, owner: a.owner } }),
      (err: unknown) => {
        this.log.warn({ event: 'witness-claim-failed', module, epoch, code: codeOf(err), err: (err as Error).message }, 'claim got no answer');
        this.emitEvent({ type: 'effect-failed', now: this.now(), module, effect: 'claim-epoch', code: codeOf(err) });
      },
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
  }

  /** One renewal: write our counter (askedAt read before), read the peer's, check our modules' epochs. */
  private async renew(): Promise<void> {
    if (this.renewing || this.closed) return;
    this.renewing = true;
    try {
      const askedAt = this.now();
      let renewed = false;
      try {
        await this.withTimeout(this.writeLease());
        renewed = true;
      } catch (err) {
        this.log.warn({ event: 'witness-renew-failed', code: codeOf(err), err: (err as Error).message }, 'lease renewal on the share failed');
      }
      await this.withTimeout(this.readPeer()).catch((err: unknown) => this.log.warn({ event: 'witness-read-failed', code: codeOf(err) }, 'could not read the peer lease'));
      // The epochs are read AFTER our write returned: a takeover granted to the peer was created
      // before our write became visible (else the peer saw the write and refused itself), so this
      // lease always arrives together with any epoch that overtook ours.
      let claims: Record<string, EpochRecord> | undefined;
      if (renewed) {
        claims = await this.withTimeout(this.currentEpochs()).catch((err: unknown) => {
          this.log.warn({ event: 'witness-read-failed', code: codeOf(err) }, 'could not read module epochs');
          return undefined;
        });
      }
      if (claims !== undefined && !this.closed) this.emitEvent({ type: 'witness-lease', now: this.now(), askedAt, grantedMs: this.o.timings.leaseMs, claims });
    } finally {
      this.renewing = false;
    }
  }

  private async writeLease(): Promise<void> {
    const dir = await shareFolder(this.o.path, 'leases');
    const target = join(dir, `${this.o.hostName}.json`);
    const tmp = join(dir, `.${this.o.hostName}.${randomBytes(6).toString('hex')}.tmp`);
    // Reserved before writing: an attempt that timed out may still land later, and two attempts
    // must never write the same bytes (a claimant would not see the second one as a change).
    this.counter += 1;
    const record = LeaseRecord.parse({ Host: this.o.hostName, Incarnation: this.incarnation, Counter: this.counter });
    try {
      const fh = await open(tmp, 'wx');
      try {
        await fh.writeFile(`${JSON.stringify(record)}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, target);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw fromNodeError(err, target);
    }
  }

  private async readPeer(): Promise<void> {
    const file = join(this.o.path, 'leases', `${this.o.peerName}.json`);
    // The exact content is the observation: the owner never writes the same bytes twice.
    const value = await readFile(file, 'utf8').catch((e: unknown) => {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return ABSENT;
      throw fromNodeError(e, file);
    });
    this.obs = observe(this.obs, this.o.peerName, value, this.now());
  }

  /** The highest epoch of each of our modules that has a readable owner (an unreadable file says nothing yet). */
  private async currentEpochs(): Promise<Record<string, EpochRecord>> {
    const claims: Record<string, EpochRecord> = {};
    for (const module of this.o.modules) {
      const h = await readHighest(this.o.path, module);
      if (h !== null && h.owner !== null) claims[module] = h;
    }
    return claims;
  }

  private async doClaim(module: string, epoch: number, kind: ClaimKind, to: string | undefined): Promise<ClaimAnswer> {
    if (this.closed) throw new VmmirrorError('CANCELLED', 'witness client closed');
    if (!this.o.modules.includes(module)) throw new ConfigError('CONFIG_INVALID', `file-share witness: module ${JSON.stringify(module)} is not in this host's config`);
    if (!Epoch.safeParse(epoch).success) throw new ConfigError('CONFIG_INVALID', `file-share witness: epoch ${epoch} is not a positive whole number`);
    await this.readPeer();
    const seen = this.obs[this.o.peerName];
    let before = await readHighest(this.o.path, module);
    // A file of this very epoch with no owner yet may be its creator still writing it: wait for
    // its content as after a lost create (else a handover racing a takeover is refused for nothing).
    if (before !== null && before.epoch === epoch && before.owner === null) before = await readWinner(this.o.path, module, epoch);
    const peerExpired = observedExpired(this.obs, this.o.peerName, this.now(), this.o.timings);
    const plan = planClaim({ highest: before, self: this.o.hostName, peer: this.o.peerName, epoch, kind, ...(to !== undefined ? { to } : {}), peerExpired });
    if (plan.action === 'answer') return plan.answer;
    if ((await createEpochFile(this.o.path, module, epoch, plan.owner, kind)) === 'exists') {
      return concludeLost(await readWinner(this.o.path, module, epoch), epoch, kind === 'handover' ? plan.owner : undefined);
    }
    await this.readPeer();
    const after = this.obs[this.o.peerName];
    const peerUnchanged = after !== undefined && seen !== undefined && after.value === seen.value && after.since === seen.since;
    return concludeCreated({ before, highest: await readHighest(this.o.path, module), epoch, owner: plan.owner, peerChecked: plan.peerChecked, peerUnchanged });
  }

  /** A share that hangs (SMB server gone) must not hold a claim or a renewal forever. */
  private withTimeout<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new VmmirrorError('PEER_TIMEOUT', `file-share witness ${this.o.path}: no answer within ${this.o.requestTimeoutMs} ms`)), this.o.requestTimeoutMs);
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  private emitEvent(e: WitnessEvent): void {
    this.emit('event', e);
  }
}

function codeOf(err: unknown): string {
  return err instanceof VmmirrorError ? err.code : 'INTERNAL';
}
