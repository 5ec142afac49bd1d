import { expect } from 'chai';
import { ControlMessage } from '../../src/peer/schema';

describe('src/peer/schema', () => {
  const valid: unknown[] = [
    { kind: 'hello', protocol: 1, host: 'hv-a', nonce: 'a'.repeat(32) },
    { kind: 'heartbeat', seq: 3, sentAt: 1700000000000 },
    { kind: 'request', id: 1, type: 'cycle.begin', body: { module: 'vm1' } },
    { kind: 'reply', id: 1, body: null },
    { kind: 'reply-error', id: 1, code: 'PEER_TIMEOUT', message: 'late' },
    { kind: 'error', code: 'PEER_PROTOCOL', message: 'bye', reason: 'schema' },
    { kind: 'stream-open', streamId: 'f'.repeat(32), channel: 1, compression: 'brotli', meta: { kind: 'delta' } },
    { kind: 'stream-credit', channel: 2, bytes: 4096 },
    { kind: 'stream-end', channel: 1, bytes: 0 },
    { kind: 'stream-done', channel: 1 },
    { kind: 'stream-abort', channel: 3, code: 'CANCELLED', message: 'stop' },
  ];

  it('accepts every kind of control message in its documented shape', () => {
    for (const m of valid) expect(ControlMessage.safeParse(m).success, JSON.stringify(m)).to.equal(true);
  });

  it('refuses extra fields, unknown kinds and out-of-range values', () => {
    const bad: unknown[] = [
      { ...(valid[0] as object), admin: true },
      { kind: 'hello', protocol: 1, host: '../etc', nonce: 'a'.repeat(32) },
      { kind: 'hello', protocol: 1, host: 'a', nonce: 'short' },
      { kind: 'shell', cmd: 'rm -rf /' },
      { kind: 'request', id: 0, type: 'x', body: {} },
      { kind: 'request', id: 1, type: 'Bad Type', body: {} },
      { kind: 'stream-open', streamId: 'F'.repeat(32), channel: 1, compression: 'none' },
      { kind: 'stream-open', streamId: 'f'.repeat(32), channel: 0, compression: 'none' },
      { kind: 'stream-open', streamId: 'f'.repeat(32), channel: 1, compression: 'zstd' },
      { kind: 'stream-credit', channel: 1, bytes: 0 },
      { kind: 'stream-credit', channel: 1, bytes: 2 ** 32 },
      { kind: 'reply-error', id: 1, code: 'not a code', message: 'x' },
      { kind: 'reply-error', id: 1, code: 'X', message: 'x'.repeat(5000) },
      null,
      [],
      'hello',
    ];
    for (const m of bad) expect(ControlMessage.safeParse(m).success, JSON.stringify(m)).to.equal(false);
  });
});
