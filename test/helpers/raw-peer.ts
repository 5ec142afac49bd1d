import { randomBytes } from 'node:crypto';
import { connect, type TLSSocket } from 'node:tls';
import { encodeFrame, FrameDecoder, type Frame } from '../../src/peer/frame-codec';
import type { HostIdentity } from '../../src/peer/types';

// A hand-driven TLS client for attack tests: it speaks raw frames (or raw bytes) to a PeerServer.
export interface RawPeer {
  socket: TLSSocket;
  frames: Frame[];
  /** Sends one control message as JSON. */
  control: (msg: unknown) => void;
  /** Resolves when the server closes the connection. */
  closed: Promise<void>;
  /** Waits for a control message matching `kind`. */
  next: (kind: string, timeoutMs?: number) => Promise<Record<string, unknown>>;
}

export function rawPeer(identity: HostIdentity, port: number, host = '127.0.0.1'): Promise<RawPeer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, key: identity.keyPem, cert: identity.certPem, rejectUnauthorized: false, minVersion: 'TLSv1.3' });
    const frames: Frame[] = [];
    const decoder = new FrameDecoder();
    const waiters: Array<() => void> = [];
    socket.on('data', (c: Buffer) => {
      try {
        frames.push(...decoder.push(c));
      } catch {
        // the attacker does not care
      }
      for (const w of waiters.splice(0)) w();
    });
    socket.on('error', () => undefined);
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    const controls = (): Array<Record<string, unknown>> =>
      frames.filter((f) => f.type === 'control').map((f) => JSON.parse(f.payload.toString('utf8')) as Record<string, unknown>);
    const next = async (kind: string, timeoutMs = 3000): Promise<Record<string, unknown>> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = controls().find((m) => m.kind === kind);
        if (hit) return hit;
        if (Date.now() > deadline) throw new Error(`no ${kind} from the server`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50);
        });
      }
    };
    socket.once('secureConnect', () =>
      resolve({
        socket,
        frames,
        control: (msg) => socket.write(encodeFrame({ type: 'control', channel: 0, payload: Buffer.from(JSON.stringify(msg)) })),
        closed,
        next,
      }),
    );
    socket.once('error', reject);
  });
}

/** A valid hello for `host`. */
export function hello(host: string): Record<string, unknown> {
  return { kind: 'hello', protocol: 1, host, nonce: randomBytes(16).toString('hex') };
}
