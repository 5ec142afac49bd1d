import { callAgent } from '../../agent/control/client';
import { SyncReport } from '../../agent/control/documents';
import { controlEndpoint } from '../../agent/control/endpoint';
import type { CommandOutcome } from '../command';
import { emit } from '../output';

// `vmmirror sync <module>`: the local agent runs a cycle now; this waits for its report.

export interface SyncOptions {
  dir?: string;
  timeout: string;
}

/** Asks the local agent to run a cycle of `module` now (definitions/sync.ts declares the command). */
export async function runSync(module: string, opts: SyncOptions): Promise<CommandOutcome> {
  const endpoint = { ...(await controlEndpoint(opts.dir)), timeoutMs: (Number(opts.timeout) || 3600) * 1000 };
  const r = emit(SyncReport, (await callAgent(endpoint, 'POST', `/v1/modules/${encodeURIComponent(module)}/sync`)) as SyncReport);
  const text = `${r.Module}: generation ${r.FromGeneration} -> ${r.ToGeneration}, ${r.BlocksChanged} block(s), ${r.BytesChanged} B changed, ${r.StreamBytes} B streamed (${r.WireBytes} B on the wire, ${r.Compression}), ${r.DurationMs} ms, ${r.ChangeDetection}${r.ScanReason !== null ? ` (${r.ScanReason})` : ''}`;
  return { json: r, text };
}
