import { monoNow } from '../util/mono';
import { claim, grantLease, startWitness, type ClaimAnswer, type ClaimKind, type WitnessState } from '../cluster/witness-rules';
import type { LeaseTimings } from '../cluster/lease';
import { PeerError } from '../errors';
import { componentLogger, type Logger } from '../log';
import { PeerServer } from '../peer/server';
import type { LinkOptions } from '../peer/types';
import { loadClaims, saveClaims } from './claims-store';
import type { LoadedWitness } from './config';
import { ClaimRequest, LeaseRequest, WITNESS_LIMITS, WITNESS_PEER_NAME } from './schema';

// `vmmirror witness run`: the third vote as a small lease server. The peer link (mutual TLS, both
// hosts pinned by fingerprint) carries two requests; the caller is always the pinned identity of
// the connection (a handover's `To` only names the receiver, and must be the other pinned host). Leases live in memory; claims are written durably before they are answered, and
// a (re)started witness grants no claim until every lease it may have granted before has run out.

export interface WitnessServerOptions {
  witness: LoadedWitness;
  /** Monotonic clock in ms (tests may inject one). */
  now?: () => number;
  logger?: Logger;
  link?: Partial<LinkOptions>;
}

export class WitnessServer {
  private readonly peer: PeerServer;
  private readonly timings: LeaseTimings;
  private readonly now: () => number;
  private readonly log: Logger;
  private state: WitnessState = { quietUntil: 0, leases: {}, claims: {} };
  /** Claims are decided and persisted one at a time, so the file always holds what was answered. */
  private claimQueue: Promise<unknown> = Promise.resolve();
  /** The claims of a decision being made durable (lease replies already report them). */
  private deciding: WitnessState['claims'] | undefined;

  constructor(private readonly o: WitnessServerOptions) {
    const c = o.witness.config;
    this.timings = { leaseMs: c.LeaseMs, grantMarginMs: c.GrantMarginMs, driftPpm: c.DriftPpm, fenceLeadMs: 0 };
    this.now = o.now ?? monoNow;
    this.log = o.logger ?? componentLogger('witness');
    this.peer = new PeerServer({
      hostName: WITNESS_PEER_NAME,
      identity: { keyPem: o.witness.keyPem, certPem: o.witness.certPem },
      host: c.Address,
      port: c.Port,
      pinned: c.Hosts.map((h) => ({ name: h.Name, fingerprint: h.CertificateFingerprint })),
      // The hosts' own addresses get in past any flood of unauthenticated strangers (docs/peer-link.md).
      preferredAddresses: c.Hosts.flatMap((h) => (h.Address !== undefined ? [h.Address] : [])),
      logger: this.log,
      ...o.link,
    });
    this.peer.onRequest(LeaseRequest, (body, conn) => {
      this.state = grantLease(this.state, conn.peerName, this.now(), this.timings);
      // A claim decided but still being written already counts here: a host told of a newer
      // epoch fences (the safe direction), even if that write then fails.
      const known = this.deciding ?? this.state.claims;
      const claims: Record<string, { epoch: number; owner: string }> = {};
      for (const m of body.Modules) if (known[m] !== undefined) claims[m] = { ...known[m] };
      return { grantedMs: this.timings.leaseMs, claims };
    });
    this.peer.onRequest(ClaimRequest, (body, conn) => this.serialized(() => this.onClaim(conn.peerName, body.Module, body.Epoch, body.Kind, body.To)));
  }

  /** Loads the claims (a damaged file throws WITNESS_STATE_INVALID before any port opens), then listens. */
  async start(): Promise<{ address: string; port: number; quietMs: number }> {
    const claims = await loadClaims(this.o.witness.claimsPath);
    this.state = { ...startWitness(this.now(), this.timings, this.o.witness.config.Hosts.map((h) => h.Name)), claims };
    const a = await this.peer.listen();
    const quietMs = Math.max(0, Math.ceil(this.state.quietUntil - this.now()));
    this.log.info({ event: 'witness-listening', ...a, claims: Object.keys(claims).length, quietMs }, 'witness listening');
    return { ...a, quietMs };
  }

  close(): Promise<void> {
    return this.peer.close();
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.claimQueue.then(fn, fn);
    this.claimQueue = run.catch(() => undefined);
    return run;
  }

  private async onClaim(host: string, module: string, epoch: number, kind: ClaimKind, to: string | undefined): Promise<ClaimAnswer> {
    const isNew = this.state.claims[module] === undefined;
    if (isNew && Object.keys(this.state.claims).length >= WITNESS_LIMITS.maxClaims) {
      throw new PeerError('PEER_REFUSED', `witness: already ${WITNESS_LIMITS.maxClaims} modules recorded; refusing a claim for another`, { details: { reason: 'too-many-claims' } });
    }
    const { next, answer } = claim(this.state, module, epoch, host, this.now(), kind, to);
    if (next.claims !== this.state.claims) {
      // Durable before answered: a claim the witness granted survives any crash after the answer.
      this.deciding = next.claims;
      try {
        await saveClaims(this.o.witness.claimsPath, next.claims);
      } finally {
        this.deciding = undefined;
      }
      // Leases granted meanwhile stay; only the claims change here.
      this.state = { ...this.state, claims: next.claims };
    }
    this.log.info({ event: 'witness-claim', host, module, epoch, kind, to, granted: answer.granted, current: answer.epoch, owner: answer.owner, reason: answer.granted ? undefined : answer.reason }, 'claim');
    return answer;
  }
}
