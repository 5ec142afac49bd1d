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
    // Hold no more than the source itself buffers (what read() handed over before): memory stays one frame.
    const pieces = new PieceQueue(source, Math.min(max, Math.max(16 * 1024, source.readableHighWaterMark)));
    try {
      for (;;) {
        if (!(await pieces.ready())) break;
        await this.waitCredit();
        const frame = pieces.take(Math.min(this.credit, max));
        const n = frame.reduce((x, b) => x + b.length, 0);
        this.credit -= n;
        if (this.wire.options.bandwidth) await this.wire.options.bandwidth.take(n);
        this.check();
        this.sent += n;
        await this.wire.sendData(this.channel, frame);
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

// The source's chunks as its producer pushed them. `for await` reads with read(), which joins all
// that is buffered into a new Buffer: a copy of every byte before TLS copies it again. Here a frame
// is a list of slices of the producer's own buffers. At most `limit` bytes plus one chunk wait here
// (the source is paused past that), so memory stays one frame plus the source's own buffer.
class PieceQueue {
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private error: unknown;
  private wake: (() => void) | undefined;

  constructor(
    private readonly source: Readable,
    private readonly limit: number,
  ) {
    const poke = (): void => {
      const w = this.wake;
      this.wake = undefined;
      w?.();
    };
    source.on('data', (chunk: Buffer | string) => {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      if (b.length === 0) return;
      this.queue.push(b);
      this.queued += b.length;
      if (this.queued >= this.limit) source.pause();
      poke();
    });
    source.once('end', () => {
      this.ended = true;
      poke();
    });
    source.once('error', (err) => {
      this.error ??= err;
      poke();
    });
    source.once('close', () => {
      if (!this.ended) this.error ??= Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
      poke();
    });
  }

  /** Waits for bytes; false at the end of the source; throws the source's error. */
  async ready(): Promise<boolean> {
    while (this.queue.length === 0 && !this.ended && this.error === undefined) await new Promise<void>((resolve) => (this.wake = resolve));
    if (this.error !== undefined) throw this.error;
    if (this.queue.length === 0) return false;
    // Let a producer that is pushing a burst finish it, so frames are not one small piece each.
    if (this.queued < this.limit && !this.ended) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.error !== undefined) throw this.error;
    }
    return true;
  }

  /** Removes up to `max` bytes (at least one byte when max > 0) as slices, in order. */
  take(max: number): Buffer[] {
    const out: Buffer[] = [];
    let n = 0;
    while (this.queue.length > 0 && n < max) {
      const head = this.queue[0]!;
      const k = Math.min(head.length, max - n);
      out.push(k === head.length ? head : head.subarray(0, k));
      if (k === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(k);
      n += k;
    }
    this.queued -= n;
    if (this.queued < this.limit && this.source.isPaused() && !this.ended) this.source.resume();
    return out;
  }
}
