// The witness, the cluster's third vote (docs/witness.md): `vmmirror witness` (server.ts) and the
// two client kinds the agent uses, chosen by cluster.json's Witness entry.
import type { LeaseTimings } from '../cluster/lease';
import type { Witness } from '../config/cluster';
import type { HostIdentity } from '../peer/types';
import { AgentWitnessClient } from './client';
import type { WitnessClient, WitnessClientTimings } from './events';
import { ShareWitnessClient } from './share-client';

export { AgentWitnessClient } from './client';
export { ShareWitnessClient } from './share-client';
export { WitnessServer } from './server';
export { initWitness, loadWitness } from './config';
export type { WitnessClient, WitnessEvent } from './events';

export interface WitnessClientContext extends WitnessClientTimings {
  hostName: string;
  peerName: string;
  identity: Pick<HostIdentity, 'keyPem' | 'certPem'>;
  modules: string[];
  timings: LeaseTimings;
  now?: () => number;
}

/** The client for the configured witness kind. */
export function createWitnessClient(w: Witness, c: WitnessClientContext): WitnessClient {
  if (w.Kind === 'Agent') {
    return new AgentWitnessClient({ hostName: c.hostName, identity: c.identity, address: w.Address, port: w.Port, fingerprint: w.CertificateFingerprint, modules: c.modules, renewIntervalMs: c.renewIntervalMs, requestTimeoutMs: c.requestTimeoutMs, ...(c.now ? { now: c.now } : {}) });
  }
  return new ShareWitnessClient({ path: w.Path, hostName: c.hostName, peerName: c.peerName, modules: c.modules, timings: c.timings, renewIntervalMs: c.renewIntervalMs, requestTimeoutMs: c.requestTimeoutMs, ...(c.now ? { now: c.now } : {}) });
}
