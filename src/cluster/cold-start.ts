// The cold-start opt-in (Policies.ColdStartAloneSeconds, SafeKit's `syncdelta`), pure.
//
// C3 says the first host back after both were down waits until the peer or the witness tells it
// its copy is the newest. A module that opts in trades some of that for availability: once the
// peer has stayed silent since this agent started for longer than the lease this host may have
// granted it just before going down (so the peer cannot be counting on our vote), the host starts
// the VM from its own copy, if that copy was at most N seconds behind the newest state it knew of.
//
// "The newest state it knew of", from the durable records only:
// - this host's record names it the owner: its copy *is* the last thing it knew (behind = 0).
//   Without a witness nobody can take a module over, so nobody can have gone on past it; it keeps
//   its epoch (no change of who runs, C2), and a returning peer becomes SECOND as after any restart.
// - the record names the peer the owner and this host holds a replicated generation: behind is the
//   age of that generation at the last heartbeat in which the peer, running the module at this
//   epoch, vouched for it (the freshness record, written by the agent as heartbeats arrive: the
//   peer's `sentAt - takenAt`, two readings of the *peer's* clock, so no two machines' clocks are
//   compared, C4). A start from it is a change of runner: a new epoch, persisted before the start
//   (C2), so the peer's copy is stale from then on and a returning peer is resynchronised.
//
// The risk, as SafeKit documents for syncdelta: what the peer wrote after that last heartbeat is
// lost (the peer may have run on for a while before it went down), and without a witness a peer
// that is alive but unreachable (a cut network at the moment of the cold start) runs the VM too,
// until the two meet and the newer epoch fences the other. With a witness configured the opt-in
// never bypasses quorum: a replica takes over only through a witness takeover claim (granted only
// once the owner's lease at the witness is dead, so C1 holds) and nothing starts while neither the
// peer nor the witness answers (this host cannot tell a dead pair from its own isolation).

export interface ColdStartAlone {
  /** Policies.ColdStartAloneSeconds, in milliseconds. */
  maxBehindMs: number;
  /** For a replica: how far it was behind the owner's disk at the last heartbeat that vouched for it (freshness record); null = unknown. */
  replicaBehindMs: number | null;
}

/** What the freshness record said of one module, as the agent read it. */
export interface FreshnessEntry {
  epoch: number;
  generation: number;
  behindMs: number;
}

/**
 * The replica's age the opt-in may rely on: a freshness entry of the epoch the module record holds,
 * for the record's generation or an older one. A newer generation of the same epoch holds at least
 * everything the older one did, so it was at most as far behind the state that heartbeat described
 * (the entry lags by one heartbeat after each cycle). An entry of another epoch, or of a generation
 * this copy does not reach, says nothing of this copy.
 */
export function replicaBehindMs(entry: FreshnessEntry | undefined, record: { Epoch: number; Generation: number } | undefined): number | null {
  if (entry === undefined || record === undefined) return null;
  return entry.epoch === record.Epoch && entry.generation <= record.Generation ? entry.behindMs : null;
}

export interface ColdStartFacts {
  self: string;
  witness: boolean;
  /** Some heartbeat arrived since this agent started (live knowledge supersedes the record). */
  peerHeard: boolean;
  /** The lease this host may have granted the peer (before a crash, or since) has run out. */
  peerGrantExpired: boolean;
}

export interface ColdStartModule {
  state: string;
  waitReason: string | null;
  owner: string | null;
  generation: number;
  coldStartAlone?: ColdStartAlone;
}

/**
 * What the opt-in allows a module in WAIT (cold-start) now:
 * - 'run-own': this host owns the epoch and may start its copy alone (no witness);
 * - 'take-alone': a replica may start alone under the next epoch (no witness);
 * - 'claim-takeover': a replica may ask the witness for the next epoch (with a witness);
 * - null: keep waiting as C3 says.
 */
export function coldStartMove(m: ColdStartModule, f: ColdStartFacts): 'run-own' | 'take-alone' | 'claim-takeover' | null {
  const c = m.coldStartAlone;
  if (c === undefined || m.state !== 'WAIT' || m.waitReason !== 'cold-start') return null;
  if (f.peerHeard || !f.peerGrantExpired) return null;
  if (m.owner === f.self) return f.witness ? null : 'run-own';
  if (m.owner === null || m.generation === 0) return null;
  if (c.replicaBehindMs === null || c.replicaBehindMs > c.maxBehindMs) return null;
  return f.witness ? 'claim-takeover' : 'take-alone';
}
