import { constants, createBrotliCompress, createBrotliDecompress, createDeflate, createInflate } from 'node:zlib';
import type { Transform } from 'node:stream';
import type { StreamCompression } from './types';

// Per-stream compression, chosen by the sender. Brotli at quality 4 and deflate at level 1 keep up
// with a LAN link on one core; higher levels cost more CPU than they save in wire time.

/** The sender's compressor, or undefined for 'none'. */
export function compressor(kind: StreamCompression): Transform | undefined {
  if (kind === 'deflate') return createDeflate({ level: 1 });
  if (kind === 'brotli') return createBrotliCompress({ params: { [constants.BROTLI_PARAM_QUALITY]: 4 } });
  return undefined;
}

/** The receiver's decompressor, or undefined for 'none'. */
export function decompressor(kind: StreamCompression): Transform | undefined {
  if (kind === 'deflate') return createInflate();
  if (kind === 'brotli') return createBrotliDecompress();
  return undefined;
}
