import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readToken, tokenMatches } from '../../src/agent/control/auth';
import { callAgent } from '../../src/agent/control/client';
import { startControlServer } from '../../src/agent/control/server';
import { hasCode, VmmirrorError } from '../../src/errors';
import { logSink } from '../helpers/log-sink';
import { tempDir } from '../helpers/tmp';
import { freePort } from './two-hosts';

describe('src/agent/control', () => {
  const token = 'a'.repeat(64);

  it('answers only callers with the token, on loopback, and passes errors through with their code', async () => {
    const port = await freePort('127.0.0.1');
    const synced: string[] = [];
    const srv = await startControlServer({ port }, token, {
      status: async () => ({ Ok: true }),
      sync: async (m) => {
        if (m === 'bad') throw new VmmirrorError('MODULE_NOT_FOUND', 'no module named bad');
        synced.push(m);
        return { Module: m };
      },
    });
    try {
      expect(srv.address).to.equal(`127.0.0.1:${port}`);
      expect(await callAgent({ port, token }, 'GET', '/v1/status')).to.deep.equal({ Ok: true });
      expect(await callAgent({ port, token }, 'POST', '/v1/modules/web%201/sync')).to.deep.equal({ Module: 'web 1' });
      const wrong = await callAgent({ port, token: 'b'.repeat(64) }, 'POST', '/v1/modules/x/sync').then(() => null, (e: unknown) => e);
      expect(hasCode(wrong, 'AGENT_UNAUTHORIZED')).to.equal(true);
      const bad = await callAgent({ port, token }, 'POST', '/v1/modules/bad/sync').then(() => null, (e: unknown) => e);
      expect(hasCode(bad, 'MODULE_NOT_FOUND')).to.equal(true);
      expect(synced).to.deep.equal(['web 1']);
    } finally {
      await srv.close();
    }
    const gone = await callAgent({ port, token }, 'GET', '/v1/status').then(() => null, (e: unknown) => e);
    expect(hasCode(gone, 'AGENT_UNREACHABLE')).to.equal(true);
  });

  it('logs an error on the listening server (EMFILE while accepting) with its code and keeps serving', async () => {
    const port = await freePort('127.0.0.1');
    const sink = logSink('info');
    const srv = await startControlServer({ port }, token, { status: async () => ({ Ok: true }), sync: async () => ({}) }, { log: sink.logger });
    try {
      // With no 'error' listener this emit throws, and in the agent it would crash the process.
      srv.server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' }));
      const logged = sink.lines.filter((l) => l.msg === 'control API server error; still listening');
      expect(logged.map((l) => [l.code, l.level])).to.deep.equal([['EMFILE', 50]]);
      expect(await callAgent({ port, token }, 'GET', '/v1/status')).to.deep.equal({ Ok: true });
    } finally {
      await srv.close();
    }
  });

  it('serves a Unix socket instead of a port when configured', async function () {
    if (process.platform === 'win32') this.skip(); // Windows serves a named pipe instead (not testable here)
    const t = await tempDir();
    const socketPath = join(t.dir, 'control.sock');
    const srv = await startControlServer({ socketPath }, token, { status: async () => ({ Via: 'socket' }), sync: async () => ({}) });
    try {
      expect(await callAgent({ socketPath, token }, 'GET', '/v1/status')).to.deep.equal({ Via: 'socket' });
    } finally {
      await srv.close();
      await t.cleanup();
    }
  });

  it('compares tokens in constant time and refuses a token file others can read', async () => {
    expect(tokenMatches(token, token)).to.equal(true);
    expect(tokenMatches(`${token}x`, token)).to.equal(false);
    expect(tokenMatches(undefined, token)).to.equal(false);
    const t = await tempDir();
    try {
      const p = join(t.dir, 'token');
      await writeFile(p, `${token}\n`, { mode: 0o644 });
      const err = await readToken(p).then(() => null, (e: unknown) => e);
      expect(hasCode(err, 'CONFIG_INVALID')).to.equal(true);
      await writeFile(join(t.dir, 'ok'), `${token}\n`, { mode: 0o600 });
      expect(await readToken(join(t.dir, 'ok'))).to.equal(token);
    } finally {
      await t.cleanup();
    }
  });
});
