import { isIPv6, type Socket } from 'node:net';

// Admission of TCP sockets that have not authenticated yet (TLS handshake, pin check, hello).
// Unauthenticated sockets cost memory and CPU until their deadline, so they are capped in total and
// per source address. The cap must never keep the pinned peer out, whatever a flood of strangers
// does: sockets from a preferred address (configured for the peer, or learned when a pinned peer
// authenticated from it) are always admitted, evicting the oldest unauthenticated socket of another
// source when the server is full; and a full server also makes room for a source holding fewer
// sockets than the heaviest one (max-min fairness), so a peer that is not known yet still gets in
// against a few heavy flooders. Every socket leaves exactly once: authenticated, or with a reason.

export interface AdmissionLimits {
  /** Unauthenticated sockets held at once (all sources). */
  maxPreAuthSockets: number;
  /** Unauthenticated sockets held at once per source address. */
  maxPreAuthPerSource: number;
  /** From TCP accept to a completed hello (ms); past it the socket is dropped. */
  preAuthTimeoutMs: number;
}

/** One unauthenticated socket being admitted. */
export interface PendingSocket {
  readonly socket: Socket;
  readonly source: string;
  readonly preferred: boolean;
  /** Remote address and port: how the TLS layer's socket is matched to this entry. */
  readonly endpoint: string;
  settled: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** Called once for every socket that leaves without authenticating (unless dropped silently). */
export type RefusalSink = (source: string, reason: string, fields: Record<string, unknown>) => void;

/** Addresses learned from authenticated pinned peers: a few, most recent kept. */
const MAX_LEARNED = 16;

/**
 * The form of an address as compared here: IPv6 in its canonical text (RFC 5952, as sockets report
 * it: a configured `2001:0DB8:0:0::5` must match a peer seen as `2001:db8::5`), and IPv4-mapped
 * IPv6 (`::ffff:10.0.0.1`, `::ffff:a00:1`) as plain IPv4.
 */
export function normalizeAddress(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  const lower = address.toLowerCase();
  if (!isIPv6(lower)) return lower;
  let canonical = lower;
  try {
    canonical = new URL(`http://[${lower}]/`).hostname.slice(1, -1);
  } catch {
    // A zone id (fe80::1%eth0) is not URL syntax: compared as written.
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (mapped === null) return canonical;
  const hi = parseInt(mapped[1]!, 16);
  const lo = parseInt(mapped[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

export class PreAuthGate {
  /** Insertion order is age: the first entry is the oldest. */
  private readonly pending = new Map<Socket, PendingSocket>();
  private readonly byEndpoint = new Map<string, PendingSocket>();
  private readonly perSource = new Map<string, number>();
  private readonly configured = new Set<string>();
  private readonly learned = new Set<string>();

  constructor(
    private readonly limits: AdmissionLimits,
    private readonly onRefused: RefusalSink,
  ) {}

  /** Addresses of the pinned peers from the configuration (literal IPs). */
  prefer(addresses: Iterable<string>): void {
    for (const a of addresses) this.configured.add(normalizeAddress(a)!);
  }

  /** A pinned peer authenticated from `address`: prefer it from now on. */
  learn(address: string | undefined): void {
    const a = normalizeAddress(address);
    if (a === undefined) return;
    this.learned.delete(a);
    this.learned.add(a);
    if (this.learned.size > MAX_LEARNED) this.learned.delete(this.learned.values().next().value!);
  }

  isPreferred(source: string): boolean {
    return this.configured.has(source) || this.learned.has(source);
  }

  get size(): number {
    return this.pending.size;
  }

  /** Admits a new socket (returns its entry) or refuses it (destroys it, reports the reason). */
  offer(socket: Socket): PendingSocket | undefined {
    const source = normalizeAddress(socket.remoteAddress);
    if (source === undefined || socket.remotePort === undefined) {
      // Reset by the client while it waited in the accept queue.
      socket.destroy();
      this.onRefused('unknown', 'client-closed', {});
      return undefined;
    }
    const preferred = this.isPreferred(source);
    if (!this.makeRoom(source, preferred)) {
      socket.destroy();
      return undefined;
    }
    const entry: PendingSocket = { socket, source, preferred, endpoint: endpoint(source, socket.remotePort), settled: false, timer: undefined };
    this.pending.set(socket, entry);
    this.byEndpoint.set(entry.endpoint, entry);
    this.perSource.set(source, (this.perSource.get(source) ?? 0) + 1);
    entry.timer = setTimeout(() => this.refuse(entry, 'pre-auth-timeout', { timeoutMs: this.limits.preAuthTimeoutMs }), this.limits.preAuthTimeoutMs);
    // Errors of an unauthenticated socket end in 'close'; this listener keeps them from crashing.
    socket.on('error', () => undefined);
    socket.once('close', () => this.leave(entry, 'client-closed', {}));
    return entry;
  }

  /** The pending entry of a live socket by its remote endpoint (how the TLS layer's socket is matched). */
  find(address: string | undefined, port: number | undefined): PendingSocket | undefined {
    const a = normalizeAddress(address);
    if (a === undefined || port === undefined) return undefined;
    return this.byEndpoint.get(endpoint(a, port));
  }

  /** Refuses a pending socket: destroys it and reports `reason` (no-op if it already left). */
  refuse(entry: PendingSocket, reason: string, fields: Record<string, unknown> = {}): void {
    if (this.leave(entry, reason, fields)) entry.socket.destroy();
  }

  /** The socket authenticated: it leaves the gate for good. False if it had already been refused. */
  authenticated(entry: PendingSocket): boolean {
    if (entry.settled) return false;
    this.remove(entry);
    this.learn(entry.source);
    return true;
  }

  /**
   * The socket failed after the pin check and its connection already logged why: leave without a
   * report. The connection closes the socket itself (after flushing its error frame).
   */
  dropSilently(entry: PendingSocket): void {
    if (!entry.settled) this.remove(entry);
  }

  /** Server close: every pending socket goes, unreported. */
  closeAll(): void {
    for (const entry of [...this.pending.values()]) {
      this.remove(entry);
      entry.socket.destroy();
    }
  }

  private makeRoom(source: string, preferred: boolean): boolean {
    const mine = this.perSource.get(source) ?? 0;
    if (preferred) {
      // A client waits on its newest attempt only: an older one of the same source gives way.
      if (mine >= this.limits.maxPreAuthPerSource) this.evictOldest((e) => e.source === source, 'superseded');
      else if (this.pending.size >= this.limits.maxPreAuthSockets) this.evictOldest((e) => !e.preferred, 'evicted');
      return true;
    }
    if (mine >= this.limits.maxPreAuthPerSource) {
      this.onRefused(source, 'source-limit', { limit: this.limits.maxPreAuthPerSource });
      return false;
    }
    if (this.pending.size < this.limits.maxPreAuthSockets) return true;
    const [heaviest, count] = this.heaviestSource();
    if (heaviest !== undefined && count > mine + 1) {
      this.evictOldest((e) => e.source === heaviest && !e.preferred, 'evicted');
      return true;
    }
    this.onRefused(source, 'pre-auth-full', { limit: this.limits.maxPreAuthSockets });
    return false;
  }

  private heaviestSource(): [string | undefined, number] {
    let best: string | undefined;
    let most = 0;
    for (const [source, n] of this.perSource) {
      if (n > most && !this.isPreferred(source)) [best, most] = [source, n];
    }
    return [best, most];
  }

  private evictOldest(match: (e: PendingSocket) => boolean, reason: string): void {
    for (const e of this.pending.values()) {
      if (match(e)) return this.refuse(e, reason, {});
    }
  }

  private leave(entry: PendingSocket, reason: string, fields: Record<string, unknown>): boolean {
    if (entry.settled) return false;
    this.remove(entry);
    this.onRefused(entry.source, reason, fields);
    return true;
  }

  private remove(entry: PendingSocket): void {
    entry.settled = true;
    clearTimeout(entry.timer);
    this.pending.delete(entry.socket);
    // The endpoint key is only ours while it still points at this entry (a port can be reused later).
    if (this.byEndpoint.get(entry.endpoint) === entry) this.byEndpoint.delete(entry.endpoint);
    const n = (this.perSource.get(entry.source) ?? 1) - 1;
    if (n <= 0) this.perSource.delete(entry.source);
    else this.perSource.set(entry.source, n);
  }
}

function endpoint(address: string, port: number): string {
  return `${address}|${port}`;
}
