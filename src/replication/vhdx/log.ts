import { MiB } from './constants';
import type { VhdxContext, VhdxFile } from './file-io';
import { readExact, vhdxInvalid, vhdxUnsupported } from './file-io';
import type { VhdxHeader } from './header';
import { LogScanner, newLogScanStats, SECTOR, type LogScanStats, type VhdxLogEntry, type VhdxLogWrite } from './log-entry';

export { parseLogEntry, newLogScanStats, type LogScanStats, type VhdxLogEntry, type VhdxLogWrite } from './log-entry';

// The metadata log (MS-VHDX 2.3): a circular buffer of 4 KiB sectors holding BAT/metadata updates
// that may not have reached their final place yet. When the header's LogGuid is set we find the
// active sequence the way the spec describes, and keep its writes so reads can see the file as it
// will be after replay (Hyper-V and qemu replay on open; a replica must agree with that view).

/** Logs larger than this are refused rather than read into memory (Hyper-V and qemu use 1 MiB). */
export const MAX_LOG_BYTES = 256 * MiB;

/** The active log sequence: what a replay would write, in order. */
export interface VhdxLogReplay {
  readonly tailOffset: number;
  readonly headOffset: number;
  readonly entryCount: number;
  readonly tailSequenceNumber: bigint;
  readonly headSequenceNumber: bigint;
  readonly flushedFileOffset: number;
  readonly lastFileOffset: number;
  readonly writes: readonly VhdxLogWrite[];
}

/** Thrown by findActiveSequence when a log makes the search do more than linear work (readLogReplay: VHDX_INVALID). */
export class LogTooComplexError extends Error {}

/**
 * Finds the active sequence (MS-VHDX 2.3.3): the newest run of consecutive valid entries whose
 * head's tail lies inside the run. Linear in the log size: entries are parsed once (LogScanner),
 * a run that ended on a non-entry failed its tail check for every entry in it (a run starting at a
 * later entry of it ends at the same head and holds fewer entries), so those starts are not walked
 * again; and the walking is capped at a few steps per sector, past which the log is refused.
 */
export function findActiveSequence(log: Buffer, logGuid: string, stats: LogScanStats = newLogScanStats()): VhdxLogEntry[] | undefined {
  const scan = new LogScanner(log, logGuid, stats);
  const budget = 8 * scan.sectors + 64;
  const knownToFail = new Set<number>();
  let candidate: VhdxLogEntry[] | undefined;
  let curTail = 0;
  let oldTail = 0;
  for (;;) {
    const run: VhdxLogEntry[] = [];
    let pos = curTail;
    let span = 0;
    let endedOnNonEntry = false;
    if (!knownToFail.has(curTail)) {
      for (;;) {
        if (++stats.runSteps > budget) throw new LogTooComplexError(`the log search needed more than ${budget} steps over ${scan.sectors} sectors`);
        const e = scan.entryAt(pos);
        if (e === undefined || (run.length > 0 && e.seq !== run[run.length - 1]!.seq + 1n)) {
          endedOnNonEntry = true;
          break;
        }
        if (span + e.length > log.length) break;
        run.push(e);
        span += e.length;
        pos = (pos + e.length) % log.length;
      }
    }
    const head = run[run.length - 1];
    const tailAt = head === undefined ? -1 : run.findIndex((e) => e.pos === head.tail);
    if (head !== undefined && tailAt >= 0) {
      if (candidate === undefined || head.seq > candidate[candidate.length - 1]!.seq) candidate = run.slice(tailAt);
      curTail = pos;
    } else {
      if (endedOnNonEntry) for (const e of run) knownToFail.add(e.pos);
      curTail = (curTail + SECTOR) % log.length;
    }
    // Back at or before where the scan stood: the whole circle has been looked at.
    if (curTail <= oldTail) break;
    oldTail = curTail;
  }
  return candidate;
}

/** Reads the log when the header names one; undefined when there is nothing to replay. */
export async function readLogReplay(file: VhdxFile, ctx: VhdxContext, header: VhdxHeader, fileSize: number): Promise<VhdxLogReplay | undefined> {
  if (header.logLength === 0) return undefined;
  if (header.logLength > MAX_LOG_BYTES) throw vhdxUnsupported(ctx, 'log', `log of ${header.logLength} bytes is larger than the ${MAX_LOG_BYTES} this version reads`);
  const log = await readExact(file, ctx, header.logOffset, header.logLength, 'log');
  let run: VhdxLogEntry[] | undefined;
  try {
    run = findActiveSequence(log, header.logGuid);
  } catch (err) {
    if (err instanceof LogTooComplexError) throw vhdxInvalid(ctx, 'log', `the log is not a plausible VHDX log: ${err.message}`);
    throw err;
  }
  if (run === undefined) return undefined;
  const head = run[run.length - 1]!;
  if (fileSize < head.flushed) {
    throw vhdxInvalid(ctx, 'log', `file is truncated: the log says it was at least ${head.flushed} bytes, it is ${fileSize}`, { flushedFileOffset: head.flushed, fileSize });
  }
  return {
    tailOffset: run[0]!.pos,
    headOffset: head.pos,
    entryCount: run.length,
    tailSequenceNumber: run[0]!.seq,
    headSequenceNumber: head.seq,
    flushedFileOffset: head.flushed,
    lastFileOffset: head.last,
    writes: run.flatMap((e) => e.writes),
  };
}
