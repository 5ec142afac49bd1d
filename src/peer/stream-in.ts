import { pipeline, Readable } from 'node:stream';
import { PeerError } from '../errors';
import { decompressor } from './compression';
import type { StreamCompression } from './types';
import { describeError, remoteError, type Wire } from './wire';

// The receiving half of one stream. Credit is granted only for room in the reader's buffer: the
// bytes in flight plus the bytes not yet read never exceed the window, so a slow reader bounds
// memory here and, through the missing credit, on the sender too.
export class IncomingStream {
  private granted = 0;
  private received = 0;
  private ended = false;
  private finished = false;
  private readonly wireSide: Readable;
  /** What the handler reads (decompressed if the sender compressed). */
  readonly readable: Readable;

  constructor(
    private readonly wire: Wire,
    readonly channel: number,
    readonly streamId: string,
    compression: StreamCompression,
  ) {
    const window = wire.options.streamWindowBytes;
    // Readable calls _read before it removes the bytes being read from its buffer: grant on the next
    // tick, when the room is really there.
    this.wireSide = new Readable({ highWaterMark: window, read: () => process.nextTick(() => this.grant()) });
    const unzip = decompressor(compression);
    this.readable = unzip ? (pipeline(this.wireSide, unzip, () => undefined) as Readable) : this.wireSide;
    // A handler that forgets to listen for 'error' must not crash the agent when the link drops.
    this.readable.on('error', (err) => wire.logger.debug({ err, streamId }, 'incoming stream failed'));
    this.readable.once('end', () => {
      this.finished = true;
      if (!this.wire.closed) this.wire.sendControl({ kind: 'stream-done', channel: this.channel });
    });
    this.readable.once('close', () => {
      if (this.finished || this.wire.closed) return;
      // The reader gave up (destroyed its readable): tell the sender to stop, and why if it said.
      this.finished = true;
      const why = this.readable.errored ? describeError(this.readable.errored) : undefined;
      this.wire.sendControl({
        kind: 'stream-abort',
        channel,
        code: why && why.code !== 'INTERNAL' ? why.code : 'CANCELLED',
        message: why?.message || 'the receiver abandoned the stream',
        reason: 'receiver-aborted',
      });
    });
  }

  /** True once the stream ended, failed or was abandoned (it may be forgotten). */
  get settled(): boolean {
    return this.finished;
  }

  /** A data frame for this stream; throws PeerError if the sender overran its credit. */
  data(payload: Buffer): void {
    if (this.ended) throw protocol('data-after-end', `data on stream ${this.streamId} after its end`);
    this.received += payload.length;
    if (this.received > this.granted) {
      throw protocol('credit-exceeded', `stream ${this.streamId}: peer sent ${this.received} bytes with ${this.granted} granted`);
    }
    if (this.finished) return; // abandoned by the reader: drop what was already in flight
    this.wireSide.push(payload);
    this.grant();
  }

  /** stream-end from the sender. */
  end(totalBytes: number): void {
    if (this.ended) throw protocol('duplicate-end', `stream ${this.streamId} ended twice`);
    this.ended = true;
    if (totalBytes !== this.received) {
      this.fail(new PeerError('PEER_PROTOCOL', `stream ${this.streamId}: sender says ${totalBytes} bytes, ${this.received} arrived`, { details: { reason: 'length-mismatch' } }));
      return;
    }
    if (!this.finished) this.wireSide.push(null);
  }

  /** stream-abort from the sender. */
  remoteAbort(code: string, message: string, reason: string | undefined): void {
    this.fail(remoteError(code, message, reason, this.wire.peerName));
  }

  /** The stream failed (sender abort, link lost): the reader's readable errors. */
  fail(error: PeerError): void {
    if (this.finished) return;
    this.finished = true;
    this.wireSide.destroy(error);
    if (this.readable !== this.wireSide) this.readable.destroy(error);
  }

  private grant(): void {
    if (this.ended || this.finished || this.wire.closed) return;
    const window = this.wire.options.streamWindowBytes;
    const used = this.granted - this.received + this.wireSide.readableLength;
    const room = window - used;
    // Grant in steps of at least a quarter window so credit messages stay rare, except when nothing
    // is in flight: then no push will come to call _read again, so whatever room there is must go.
    const inFlight = this.granted - this.received;
    if (room >= window / 4 || (inFlight === 0 && room > 0)) {
      this.granted += room;
      this.wire.sendControl({ kind: 'stream-credit', channel: this.channel, bytes: room });
    }
  }

  /** Grants the first window (after the stream was accepted, unless the handler already refused it). */
  start(): void {
    if (!this.readable.destroyed) this.grant();
  }
}

function protocol(reason: string, message: string): PeerError {
  return new PeerError('PEER_PROTOCOL', message, { details: { reason } });
}
