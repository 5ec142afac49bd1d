import { callAgent } from '../../agent/control/client';
import { SyncReport } from '../../agent/control/documents';
import { controlEndpoint } from '../../agent/control/endpoint';
import type { CommandRegistrar } from '../command';
import { emit } from '../output';

// `vmmirror sync <module>`: the local agent runs a cycle now; this waits for its report.

export const registerSync: CommandRegistrar = (program, run) => {
  program
    .command('sync')
    .description('replicate a module now (on its primary) and wait for the result')
    .argument('<module>', 'module name')
    .option('--dir <dir>', 'config directory (default: VMMIRROR_CONFIG_DIR or the platform default)')
    .option('--timeout <s>', 'give up waiting after this many seconds', '3600')
    .action((module: string, opts: { dir?: string; timeout: string }) =>
      run(async () => {
        const endpoint = { ...(await controlEndpoint(opts.dir)), timeoutMs: (Number(opts.timeout) || 3600) * 1000 };
        const r = emit(SyncReport, (await callAgent(endpoint, 'POST', `/v1/modules/${encodeURIComponent(module)}/sync`)) as SyncReport);
        const text = `${r.Module}: generation ${r.FromGeneration} -> ${r.ToGeneration}, ${r.BlocksChanged} block(s), ${r.BytesChanged} B changed, ${r.StreamBytes} B streamed (${r.WireBytes} B on the wire, ${r.Compression}), ${r.DurationMs} ms, ${r.ChangeDetection}${r.ScanReason !== null ? ` (${r.ScanReason})` : ''}`;
        return { json: r, text };
      }),
    );
};
