import type { VhdxFile } from './file-io';
import type { VhdxLogReplay } from './log';

// A read-only view of a file as it will be once its log is replayed: pending writes are laid over
// what is read, and the file reads as extended (zeros) up to LastFileOffset. Nothing is written.

/** Size the file will have after the replay. */
export function replayedSize(fileSize: number, replay: VhdxLogReplay): number {
  let size = Math.max(fileSize, replay.lastFileOffset);
  for (const w of replay.writes) size = Math.max(size, w.fileOffset + w.length);
  return size;
}

/** Wraps `file` so reads see the log's pending writes applied. */
export function replayView(file: VhdxFile, fileSize: number, replay: VhdxLogReplay): VhdxFile {
  const size = replayedSize(fileSize, replay);
  return {
    stat: async () => ({ size }),
    async read(buffer, offset, length, position) {
      const n = Math.max(0, Math.min(length, size - position));
      const fromFile = Math.max(0, Math.min(n, fileSize - position));
      let got = 0;
      while (got < fromFile) {
        const { bytesRead } = await file.read(buffer, offset + got, fromFile - got, position + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      buffer.fill(0, offset + got, offset + n);
      for (const w of replay.writes) {
        const from = Math.max(position, w.fileOffset);
        const to = Math.min(position + n, w.fileOffset + w.length);
        if (from >= to) continue;
        if (w.data === undefined) buffer.fill(0, offset + from - position, offset + to - position);
        else buffer.set(w.data.subarray(from - w.fileOffset, to - w.fileOffset), offset + from - position);
      }
      return { bytesRead: n };
    },
  };
}
