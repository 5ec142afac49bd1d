import { callAgent } from '../agent/control/client';
import type { PeerModuleFiles } from './apply';

// The CLI's way to the peer's module files: the local agent's control API relays a
// BalanceRewrite (wire.ts) over its peer link (the CLI has no peer identity of its own, and the
// control API listens on loopback only). The local agent not running (AGENT_UNREACHABLE) is, for
// the apply, the peer being unavailable: apply.ts turns any failure into BALANCE_PEER_UNAVAILABLE.

export function agentPeerModuleFiles(endpoint: Parameters<typeof callAgent>[0], peerName: string): PeerModuleFiles {
  const call = async (planId: string, undo: boolean): Promise<void> => {
    await callAgent(endpoint, 'POST', `/v1/balance/peer?planId=${encodeURIComponent(planId)}&undo=${undo ? 'true' : 'false'}`);
  };
  return { host: peerName, apply: (planId) => call(planId, false), undo: (planId) => call(planId, true) };
}
