import { z } from 'zod';
import { Fingerprint, Name, Port } from '../config/common';
import { defineRequest } from '../peer/request';

// The witness's files and messages (zod: the single source of truth, docs/witness.md).

/** The name a `vmmirror witness` states in its peer-link hello; hosts pin it with the Witness fingerprint. */
export const WITNESS_PEER_NAME = 'witness';

/** Caps that keep the witness bounded whatever its clients send. */
export const WITNESS_LIMITS = {
  /** Modules (claims) the witness records. */
  maxClaims: 4096,
  /** Largest claims.json accepted at start (bytes); 4096 claims take about 400 KiB. */
  maxClaimsFileBytes: 1024 * 1024,
};

/** An epoch: a positive whole number (safe in JSON and in a JS number). */
export const Epoch = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

export const WitnessHost = z
  .object({
    Name: Name.describe('host name, as in cluster.json Hosts[].Name'),
    CertificateFingerprint: Fingerprint.describe('that host\'s certificate fingerprint, printed by `vmmirror init` on it'),
    Address: z.string().min(1).optional().describe('address the host connects from: always admitted, however many strangers wait (recommended)'),
  })
  .strict();

/** witness.json in the witness's own directory, written by `vmmirror witness init`. */
export const WitnessConfigFile = z
  .object({
    $schema: z.string().optional(),
    Address: z.string().min(1).describe('address to listen on (0.0.0.0 for all)'),
    Port: Port.default(7422),
    KeyPath: z.string().min(1).default('identity/witness.key'),
    CertificatePath: z.string().min(1).default('identity/witness.crt'),
    ClaimsPath: z.string().min(1).default('claims.json').describe('the durable epoch claims (relative to the witness directory)'),
    Hosts: z
      .array(WitnessHost)
      .length(2, 'must list exactly the two hosts of the cluster')
      .refine((h) => h.length !== 2 || h[0].Name.toLowerCase() !== h[1].Name.toLowerCase(), 'the two hosts must have different names'),
    LeaseMs: z.number().int().min(500).max(600_000).default(5000).describe('one lease grant; hosts renew every heartbeat'),
    GrantMarginMs: z.number().int().min(0).max(60_000).default(500).describe('extra time the witness honours a grant (scheduling delay)'),
    DriftPpm: z.number().int().min(0).max(100_000).default(1000).describe('bound on the rate difference of two monotonic clocks'),
  })
  .strict();
export type WitnessConfigFile = z.infer<typeof WitnessConfigFile>;

/** claims.json: the newest epoch granted per module. Module names are keys (data), never paths. */
export const ClaimsFile = z
  .object({
    Version: z.literal(1),
    Claims: z.record(Name, z.object({ Epoch, Owner: Name }).strict()),
  })
  .strict()
  .refine((f) => Object.keys(f.Claims).length <= WITNESS_LIMITS.maxClaims, `must hold at most ${WITNESS_LIMITS.maxClaims} claims`);
export type ClaimsFile = z.infer<typeof ClaimsFile>;

/** Modules a host may ask about in one lease request. */
export const MAX_LEASE_MODULES = 1024;

const CurrentClaim = z.object({ epoch: Epoch, owner: Name.nullable() }).strict();

/**
 * Renew the caller's lease (the caller is the pinned identity of the connection, never a body
 * field). The reply carries, in the same instant as the grant, the current epoch of each module
 * asked about that the witness has a record of: an owner back from a crash must not run its old
 * epoch on a fresh lease while the peer took it over.
 */
export const LeaseRequest = defineRequest(
  'witness.lease',
  z.object({ Modules: z.array(Name).max(MAX_LEASE_MODULES) }).strict(),
  z.object({ grantedMs: z.number().int().min(1), claims: z.record(Name, CurrentClaim) }).strict(),
);

const ClaimReason = z.enum(['stale-epoch', 'owner-holds-lease', 'other-holds-lease', 'witness-starting', 'not-owner', 'not-next-epoch', 'bad-target', 'unknown-epoch']);

/** What a claimant asserts (witness-rules' ClaimKind); `handover` gives the epoch to `To`. */
export const ClaimKind = z.enum(['own', 'takeover', 'handover', 'confirm']);

/**
 * Claim `Epoch` of `Module` for the caller (`own`, `takeover`), or, as its current owner, hand it
 * to the other host `To` (`handover`); the reply is witness-rules' ClaimAnswer.
 */
export const ClaimRequest = defineRequest(
  'witness.claim',
  z
    .object({ Module: Name, Epoch, Kind: ClaimKind, To: Name.optional().describe('the host a handover gives the epoch to (only with Kind handover)') })
    .strict()
    .refine((b) => (b.Kind === 'handover') === (b.To !== undefined), { message: 'To is required with Kind handover, and only then', path: ['To'] }),
  z.discriminatedUnion('granted', [
    z.object({ granted: z.literal(true), epoch: Epoch, owner: Name }).strict(),
    z.object({ granted: z.literal(false), epoch: z.number().int().min(0), owner: Name.nullable(), reason: ClaimReason }).strict(),
  ]),
);
