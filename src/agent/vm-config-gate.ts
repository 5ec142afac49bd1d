import type { z } from 'zod';
import type { VmConfigCommit, VmConfigPart } from './messages';
import type { VmConfigStore } from './vm-config-store';

// The receiving side of an exported VM configuration (docs/cluster.md "Registering the replica"):
// every part and the commit pass the replica gate first (ClusterRuntime.gate: the owner, at the
// epoch this host holds the replica under), before the store touches the disk. A part that
// skipped it would let a stale or hostile peer discard a transfer in flight (a new transfer id
// removes the unfinished one) or write up to the export's bound per module.

type Gate = (module: string, epoch: number) => void;

export interface GatedVmConfig {
  part: (body: z.output<typeof VmConfigPart.body>) => Promise<{ received: number }>;
  commit: (body: z.output<typeof VmConfigCommit.body>) => Promise<{ configHash: string }>;
}

/** The handlers src/agent/agent.ts serves for vmconfig.part and vmconfig.commit. */
export function gatedVmConfig(gate: Gate, store: VmConfigStore): GatedVmConfig {
  return {
    part: async (body) => {
      gate(body.module, body.epoch);
      return store.putPart(body.module, body.transfer, body.file, body.offset, Buffer.from(body.data, 'base64'));
    },
    commit: async (body) => {
      gate(body.module, body.epoch);
      return store.commit(body);
    },
  };
}
