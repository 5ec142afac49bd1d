import { resolve } from 'node:path';
import { z } from 'zod';
import { ExitCodes } from '../../errors';
import { verifyLocal } from '../../replication/verify/verify-local';
import type { CommandOutcome } from '../command';
import { emit } from '../output';
import { parseChoice } from '../parse';

export const VerifyOutput = z
  .object({
    Equal: z.boolean(),
    Generation: z.number().int(),
    DurationMs: z.number().int(),
    Files: z.array(
      z.object({
        Name: z.string(),
        Source: z.string(),
        Replica: z.string(),
        Mode: z.enum(['vhdx', 'raw']),
        Equal: z.boolean(),
        Reason: z.enum(['equal', 'missing', 'size', 'content']),
        SourceSize: z.number().int(),
        ReplicaSize: z.number().int().nullable(),
        BytesCompared: z.number().int(),
        DifferingBytes: z.number().int(),
        DifferingRanges: z.array(z.object({ Offset: z.number().int(), Length: z.number().int() })),
      }),
    ),
  })
  .strict();
export type VerifyOutput = z.infer<typeof VerifyOutput>;

export interface VerifyOptions {
  replica: string;
  mode: string;
}

// vmmirror verify <source...> --replica <dir>: exit 0 when every replica equals its source, 1 when not
// (definitions/verify.ts declares the command; this runs it).
export async function runVerify(sources: string[], opts: VerifyOptions): Promise<CommandOutcome> {
  const mode = parseChoice('--mode', opts.mode, ['auto', 'vhdx', 'raw'] as const);
  const r = await verifyLocal({ sources, replicaDir: opts.replica, mode });
  const json = emit(VerifyOutput, {
    Equal: r.equal,
    Generation: r.generation,
    DurationMs: r.durationMs,
    Files: r.files.map((f, i) => ({
      Name: f.name,
      Source: resolve(sources[i]),
      Replica: resolve(opts.replica, f.name),
      Mode: f.mode,
      Equal: f.equal,
      Reason: f.reason,
      SourceSize: f.sourceSize,
      ReplicaSize: f.replicaSize,
      BytesCompared: f.bytesCompared,
      DifferingBytes: f.differingBytes,
      DifferingRanges: f.differingRanges.map((d) => ({ Offset: d.offset, Length: d.length })),
    })),
  });
  const lines = json.Files.map((f) =>
    f.Equal
      ? `  ${f.Name}: equal (${f.BytesCompared} bytes compared)`
      : `  ${f.Name}: DIFFERS (${f.Reason}${f.Reason === 'content' ? `: ${f.DifferingBytes} bytes in ${f.DifferingRanges.length} ranges, first at ${f.DifferingRanges[0]?.Offset}` : ''})`,
  );
  const text = [`${json.Equal ? 'replica equals its sources' : 'replica DIFFERS from its sources'} (generation ${json.Generation})`, ...lines].join('\n');
  return { json, text, exitCode: json.Equal ? ExitCodes.OK : ExitCodes.DIFFERS };
}
