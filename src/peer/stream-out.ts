import { pipeline, Transform, type Readable } from 'node:stream';
import { PeerError } from '../errors';
import { compressor } from './compression';
import type { SendStreamResult, StreamCompression } from './types';
import { describeError, remoteError, type Wire } from './wire';

// The sending half of one multiplexed stream. Nothing is sent before the receiver grants credit, and
// never more than it granted: a slow reader stops the loop below, which stops reading the source,
// so memory on this side is one chunk plus the source's own buffer.
export class OutgoingStream {
  private credit = 0;
  private sent = 0;
  private wake: (() => void) | undefined;
  private failure: PeerError | undefined;
  private done = false;
  private resolveDone!: () => void;
  private readonly finished = new Promise<void>((resolve) => (this.resolveDone = resolve));
  private source: Readable | undefined;

  constructor(
    private readonly wire: Wire,
    readonly channel: number,
    readonly streamId: string,
  ) {}

  /** Announces the stream and pumps `readable` through it; resolves with the bytes read and the bytes sent. */
  async run(readable: Readable, compression: StreamCompression, meta: unknown): Promise<SendStreamResult> {
    const zip = compressor(compression);
    let sourceBytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        sourceBytes += chunk.length;
        cb(null, chunk);
      },
    });
    const source: Readable = zip ? (pipeline(readable, counter, zip, () => undefined) as Readable) : readable;
    this.source = source;
    this.wire.sendControl({ kind: 'stream-open', streamId: this.streamId, channel: this.channel, compression, ...(meta === undefined ? {} : { meta }) });
    const max = this.wire.options.maxFramePayload;
    try {
      for await (const chunk of source) {
        let buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
        while (buf.length > 0) {
          await this.waitCredit();
          const n = Math.min(buf.length, this.credit, max);
          const piece = buf.subarray(0, n);
          buf = buf.subarray(n);
          this.credit -= n;
          if (this.wire.options.bandwidth) await this.wire.options.bandwidth.take(n);
          this.check();
          this.sent += n;
          await this.wire.sendData(this.channel, piece);
        }
      }
      this.check();
    } catch (err) {
      const error = this.failure ?? this.localAbort(err);
      throw error;
    }
    this.wire.sendControl({ kind: 'stream-end', channel: this.channel, bytes: this.sent });
    await this.finished;
    this.check();
    return { bytes: zip ? sourceBytes : this.sent, wireBytes: this.sent };
  }

  /** stream-credit from the receiver. */
  addCredit(bytes: number): void {
    this.credit += bytes;
    this.wake?.();
  }

  /** stream-done from the receiver. */
  complete(): void {
    this.done = true;
    this.resolveDone();
  }

  /** stream-abort from the receiver, or the connection closed. */
  abort(error: PeerError): void {
    if (this.failure || this.done) return;
    this.failure = error;
    this.wake?.();
    this.resolveDone();
    this.source?.destroy();
  }

  /** stream-abort message from the receiver. */
  remoteAbort(code: string, message: string, reason: string | undefined): void {
    this.abort(remoteError(code, message, reason, this.wire.peerName));
  }

  private localAbort(err: unknown): PeerError {
    const described = describeError(err);
    const error = new PeerError('PEER_PROTOCOL', `stream ${this.streamId}: source failed: ${described.message}`, { cause: err, details: { reason: 'source-error' } });
    this.failure = error;
    if (!this.wire.closed) {
      this.wire.sendControl({ kind: 'stream-abort', channel: this.channel, code: described.code === 'INTERNAL' ? 'CANCELLED' : described.code, message: described.message, reason: 'sender-aborted' });
    }
    return error;
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }

  private async waitCredit(): Promise<void> {
    while (this.credit <= 0) {
      this.check();
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    this.check();
  }
}
