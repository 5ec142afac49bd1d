import { monoNow } from '../util/mono';
import { EventEmitter } from 'node:events';
import { VmmirrorError } from '../errors';
import { componentLogger, type Logger } from '../log';
import { PeerClient } from '../peer/client';
import type { PeerConnection } from '../peer/connection';
import type { HostIdentity, LinkOptions } from '../peer/types';
import type { ClaimKind } from '../cluster/witness-rules';
import type { WitnessClient, WitnessClientTimings, WitnessEvent } from './events';
import { ClaimRequest, LeaseRequest, WITNESS_PEER_NAME } from './schema';

// The agent's side of `vmmirror witness`: one pinned peer-link connection (reconnecting with the
// link's own backoff), a lease renewal every heartbeat and claims on demand, each turned into the
// cluster layer's events. askedAt is read from the local monotonic clock BEFORE the request is
// sent: the holder counts its lease from before it asked (DESIGN C4). Nothing here rejects into
// the void: every failure becomes an event or a log line.

export interface AgentWitnessClientOptions extends WitnessClientTimings {
  hostName: string;
  identity: Pick<HostIdentity, 'keyPem' | 'certPem'>;
  address: string;
  port: number;
  /** The witness's certificate fingerprint (cluster.json Witness.CertificateFingerprint). */
  fingerprint: string;
  /** This host's module names (its own config): the lease reply carries their current epochs. */
  modules: string[];
  now?: () => number;
  logger?: Logger;
  link?: Partial<LinkOptions> & { reconnectMinMs?: number; reconnectMaxMs?: number; connectTimeoutMs?: number };
}

export class AgentWitnessClient extends EventEmitter implements WitnessClient {
  private readonly peer: PeerClient;
  private readonly now: () => number;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private renewing = false;
  private closed = false;

  constructor(private readonly o: AgentWitnessClientOptions) {
    super();
    this.now = o.now ?? monoNow;
    this.log = o.logger ?? componentLogger('witness-client', { host: o.hostName });
    this.peer = new PeerClient({
      hostName: o.hostName,
      identity: o.identity,
      host: o.address,
      port: o.port,
      expectPeer: WITNESS_PEER_NAME,
      pinned: [{ name: WITNESS_PEER_NAME, fingerprint: o.fingerprint }],
      logger: this.log,
      ...o.link,
    });
    // Every claim made while the link is down waits for 'peer-up' (one listener each, one per module).
    this.peer.setMaxListeners(0);
    this.peer.on('peer-up', () => void this.renew());
    this.peer.on('peer-lost', (_c: PeerConnection, reason: string) => this.log.warn({ event: 'witness-lost', reason }, 'witness connection lost'));
  }

  start(): void {
    if (this.timer !== undefined || this.closed) return;
    this.peer.start();
    this.timer = setInterval(() => void this.renew(), this.o.renewIntervalMs);
  }

  claim(module: string, epoch: number, kind: ClaimKind, to?: string): void {
    void this.sendClaim(module, epoch, kind, to);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.peer.close();
  }

  /** The live connection, waiting for it at most until `deadline` (local clock). */
  private async connection(deadline: number): Promise<PeerConnection> {
    const live = this.peer.current();
    if (live) return live;
    return this.peer.connected(Math.max(1, deadline - this.now()));
  }

  private async renew(): Promise<void> {
    const conn = this.peer.current();
    if (this.renewing || this.closed || conn === undefined) return;
    this.renewing = true;
    const askedAt = this.now();
    try {
      const r = await conn.request(LeaseRequest, { Modules: this.o.modules }, { timeoutMs: this.o.requestTimeoutMs });
      if (!this.closed) this.emitEvent({ type: 'witness-lease', now: this.now(), askedAt, grantedMs: r.grantedMs, claims: r.claims });
    } catch (err) {
      // No event: the lease simply is not extended, and the machine fences when it runs out.
      this.log.warn({ event: 'witness-renew-failed', code: codeOf(err), err: (err as Error).message }, 'lease renewal failed');
    } finally {
      this.renewing = false;
    }
  }

  private async sendClaim(module: string, epoch: number, kind: ClaimKind, to: string | undefined): Promise<void> {
    const deadline = this.now() + this.o.requestTimeoutMs;
    try {
      if (this.closed) throw new VmmirrorError('CANCELLED', 'witness client closed');
      const conn = await this.connection(deadline);
      // A handover without `to` (or `to` on another kind) fails the schema here, before sending: effect-failed.
      const a = await conn.request(ClaimRequest, { Module: module, Epoch: epoch, Kind: kind, ...(to !== undefined ? { To: to } : {}) }, { timeoutMs: Math.max(1, deadline - this.now()) });
      this.emitEvent({ type: 'witness-claim', now: this.now(), module, epoch, granted: a.granted, current: { epoch: a.epoch, owner: a.owner } });
    } catch (err) {
      this.log.warn({ event: 'witness-claim-failed', module, epoch, code: codeOf(err), err: (err as Error).message }, 'claim got no answer');
      this.emitEvent({ type: 'effect-failed', now: this.now(), module, effect: 'claim-epoch', code: codeOf(err) });
    }
  }

  private emitEvent(e: WitnessEvent): void {
    this.emit('event', e);
  }
}

function codeOf(err: unknown): string {
  return err instanceof VmmirrorError ? err.code : 'INTERNAL';
}
