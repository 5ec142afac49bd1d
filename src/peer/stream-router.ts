import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { PeerError } from '../errors';
import { IncomingStream } from './stream-in';
import { OutgoingStream } from './stream-out';
import type { StreamAbortMessage, StreamOpenMessage, ControlMessage } from './schema';
import type { SendStreamOptions, SendStreamResult, StreamHandler } from './types';
import type { Wire } from './wire';

/** Stream ids issued and not yet used, per connection; the oldest are forgotten past this. */
const MAX_OUTSTANDING_IDS = 1024;
/** Used ids remembered to report a replay as such (older replays are still refused, as not issued). */
const MAX_REMEMBERED_USED_IDS = 4096;

// Streams of one connection. Channels are numbered by their sender: the client uses odd numbers,
// the server even ones, so a channel number alone says whose stream it is. Replay protection: the
// receiver accepts a stream only under an id it issued on this connection, and only once.
export class StreamRouter {
  handler: StreamHandler | undefined;
  private readonly outgoing = new Map<number, OutgoingStream>();
  private readonly incoming = new Map<number, IncomingStream>();
  private readonly issued = new Set<string>();
  private readonly used = new Set<string>();
  private nextChannel: number;

  constructor(
    private readonly wire: Wire,
    private readonly role: 'server' | 'client',
  ) {
    this.nextChannel = role === 'client' ? 1 : 2;
  }

  /** Streams this side is sending now. */
  get sending(): number {
    return this.outgoing.size;
  }

  /** A fresh id the peer may send one stream under. */
  issue(): string {
    const id = randomBytes(16).toString('hex');
    this.issued.add(id);
    if (this.issued.size > MAX_OUTSTANDING_IDS) this.issued.delete(this.issued.values().next().value!);
    return id;
  }

  /** Sends `readable` under `streamId`. It owns the readable from the first line: on any failure it is destroyed (its file closed). */
  async send(streamId: string, readable: Readable, o: SendStreamOptions): Promise<SendStreamResult> {
    let channel: number | undefined;
    try {
      if (!/^[0-9a-f]{32}$/.test(streamId)) throw new PeerError('PEER_PROTOCOL', 'a stream id is 32 lower-case hex digits issued by the receiver', { details: { reason: 'bad-stream-id' } });
      if (this.wire.closed) throw new PeerError('PEER_UNREACHABLE', `connection to peer ${this.wire.peerName} is closed`);
      channel = this.nextChannel;
      this.nextChannel += 2;
      const out = new OutgoingStream(this.wire, channel, streamId);
      this.outgoing.set(channel, out);
      return await out.run(readable, o.compression ?? 'none', o.meta);
    } catch (err) {
      if (!readable.destroyed) readable.destroy();
      throw err;
    } finally {
      if (channel !== undefined) this.outgoing.delete(channel);
    }
  }

  /** A data frame from the peer. */
  data(channel: number, payload: Buffer): void {
    const stream = this.incoming.get(channel);
    if (!stream) throw protocol('unknown-channel', `data on channel ${channel}, which carries no accepted stream`);
    stream.data(payload);
  }

  /** A stream control message from the peer. */
  control(msg: ControlMessage): void {
    switch (msg.kind) {
      case 'stream-open':
        this.open(msg);
        return;
      case 'stream-credit':
        this.outgoing.get(msg.channel)?.addCredit(msg.bytes);
        return;
      case 'stream-done':
        this.outgoing.get(msg.channel)?.complete();
        return;
      case 'stream-end': {
        const stream = this.incoming.get(msg.channel);
        if (!stream) throw protocol('unknown-channel', `stream-end on channel ${msg.channel}, which carries no accepted stream`);
        this.incoming.delete(msg.channel);
        stream.end(msg.bytes);
        return;
      }
      case 'stream-abort':
        this.abort(msg);
        return;
      default:
        throw protocol('unexpected-message', `unexpected ${msg.kind}`);
    }
  }

  /** The connection closed: every stream fails. */
  closeAll(error: PeerError): void {
    for (const s of this.incoming.values()) s.fail(error);
    for (const s of this.outgoing.values()) s.abort(error);
    this.incoming.clear();
  }

  private abort(msg: StreamAbortMessage): void {
    if (this.isPeerChannel(msg.channel)) {
      const stream = this.incoming.get(msg.channel);
      this.incoming.delete(msg.channel);
      stream?.remoteAbort(msg.code, msg.message, msg.reason);
    } else {
      this.outgoing.get(msg.channel)?.remoteAbort(msg.code, msg.message, msg.reason);
    }
  }

  private isPeerChannel(channel: number): boolean {
    return (channel % 2 === 1) === (this.role === 'server');
  }

  private open(msg: StreamOpenMessage): void {
    if (!this.isPeerChannel(msg.channel)) throw protocol('bad-channel', `peer opened a stream on channel ${msg.channel}, which is not its to number`);
    if (this.incoming.has(msg.channel)) throw protocol('duplicate-channel', `channel ${msg.channel} is already open`);
    const refusal = this.used.has(msg.streamId)
      ? 'stream-replayed'
      : !this.issued.has(msg.streamId)
        ? 'stream-not-issued'
        : !this.handler
          ? 'no-stream-handler'
          : undefined;
    if (refusal) {
      this.wire.logger.warn({ event: 'refused', scope: 'stream', reason: refusal, streamId: msg.streamId, channel: msg.channel }, 'incoming stream refused');
      this.wire.sendControl({ kind: 'stream-abort', channel: msg.channel, code: 'PEER_REFUSED', message: `stream ${msg.streamId} refused: ${refusal}`, reason: refusal });
      return;
    }
    this.issued.delete(msg.streamId);
    // An id is accepted only while in `issued`, so refusal does not depend on `used`: it only names
    // the reason. Keeping the recent ones is enough, and keeps a months-long connection from growing.
    this.used.add(msg.streamId);
    if (this.used.size > MAX_REMEMBERED_USED_IDS) this.used.delete(this.used.values().next().value!);
    const stream = new IncomingStream(this.wire, msg.channel, msg.streamId, msg.compression);
    this.incoming.set(msg.channel, stream);
    try {
      this.handler!(msg.streamId, stream.readable, { streamId: msg.streamId, peerName: this.wire.peerName, compression: msg.compression, meta: msg.meta });
    } catch (err) {
      this.wire.logger.error({ err, streamId: msg.streamId }, 'stream handler threw');
      stream.fail(new PeerError('INTERNAL', 'stream handler failed', { cause: err }));
      this.wire.sendControl({ kind: 'stream-abort', channel: msg.channel, code: 'INTERNAL', message: 'the receiver failed to take the stream', reason: 'handler-failed' });
      return;
    }
    stream.start();
  }
}

function protocol(reason: string, message: string): PeerError {
  return new PeerError('PEER_PROTOCOL', message, { details: { reason } });
}
