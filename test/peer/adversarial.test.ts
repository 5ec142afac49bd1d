import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { EventEmitter } from 'node:events';
import { createLink, type AgentLink } from '../../src/agent/link';
import type { LoadedConfig } from '../../src/config';
import { PreAuthGate } from '../../src/peer/admission';
import type { HostIdentity } from '../../src/peer/types';
import { identities } from '../helpers/peer-pair';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';

// Review of issue 7 item 17 from the outside, on loopback only (every 127.x.y.z is a local source
// address on Linux, so "many sources" needs no namespace). The per-source limit and max-min
// fairness cannot tell the peer from a stranger that holds ONE socket from each of many addresses:
// only a preferred address can. The agent's server must prefer the configured peer address from
// its first second, not only after the peer authenticated once (after a restart it has not).

const FLOOD_SOURCES = 80; // more sources than the 64 unauthenticated sockets a server holds

function hostConfig(dir: string, self: { name: string; port: number }, peer: { name: string; address: string; port: number; fingerprint: string }): LoadedConfig {
  const host = (name: string, address: string, port: number, fingerprint: string) => ({ Name: name, Address: address, Port: port, CertificateFingerprint: fingerprint });
  const me = host(self.name, '127.0.0.1', self.port, 'unused');
  const other = host(peer.name, peer.address, peer.port, peer.fingerprint);
  return {
    dir,
    clusterName: 'lab',
    self: me,
    peer: other,
    hosts: [me, other],
    dataDir: join(dir, 'data'),
    modulesDir: join(dir, 'modules'),
    keyPath: join(dir, `${self.name}.key`),
    certificatePath: join(dir, `${self.name}.crt`),
    tokenPath: '',
    agent: { HeartbeatIntervalMs: 1000, PeerLossTimeoutMs: 5000, MaxConcurrentCycles: 1, BandwidthLimitBytesPerSecond: null, CycleTimeoutSeconds: 60, FailbackStableSeconds: 30, FailbackDamping: { MaxReturns: 3, WindowMinutes: 60 } },
    hypervisor: { Driver: 'simulated', Options: {} },
    modules: [],
  };
}

async function writeIdentity(dir: string, name: string, id: HostIdentity): Promise<void> {
  await writeFile(join(dir, `${name}.key`), id.keyPem);
  await writeFile(join(dir, `${name}.crt`), id.certPem);
}

/** The flood, in a child process: one silent TCP socket from each source, re-opened whenever it closes. */
function flood(port: number, sources: string[], seed: number): { stop: () => Promise<number> } {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', join(__dirname, 'fixtures', 'one-socket-flood.ts'), JSON.stringify({ port, sources, seed })], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      return Number(out.trim() || '0');
    },
  };
}

describe('peer link (adversarial: many one-socket sources, preferred address forms)', function () {
  this.timeout(60_000);
  let tmp: { dir: string; cleanup: () => Promise<void> } | undefined;
  const links: AgentLink[] = [];
  let stopFlood: (() => Promise<number>) | undefined;
  afterEach(async () => {
    await stopFlood?.();
    stopFlood = undefined;
    for (const l of links.splice(0)) await l.close();
    await tmp?.cleanup();
  });

  it("the agent's server admits its configured peer at once while 80 strangers hold every unauthenticated slot", async () => {
    const { seed } = seeded('peer-adversarial-many-sources');
    process.stderr.write(`    many-sources seed ${seed}\n`);
    tmp = await tempDir('vmmirror-peer-adv-');
    const ids = identities();
    await writeIdentity(tmp.dir, 'a', ids.a);
    await writeIdentity(tmp.dir, 'b', ids.b);
    // Host a has just (re)started: it has never seen b authenticate, so it has learned nothing.
    const a = await createLink(hostConfig(tmp.dir, { name: 'a', port: 0 }, { name: 'b', address: '127.0.0.1', port: 1, fingerprint: ids.b.fingerprint }));
    links.push(a);
    const { port } = await a.server.listen();
    const sources = Array.from({ length: FLOOD_SOURCES }, (_, i) => `127.0.${1 + (i >> 6)}.${1 + (i & 63)}`);
    const f = flood(port, sources, seed);
    stopFlood = f.stop;
    // Until every slot is held (the gate counts them), the peer's attempt would prove nothing.
    const full = Date.now() + 30_000;
    while (a.server.stats().preAuth < 64) {
      if (Date.now() > full) throw new Error(`the flood never filled the server (${a.server.stats().preAuth} held)`);
      await new Promise((r) => setTimeout(r, 20));
    }

    const b = await createLink(hostConfig(tmp.dir, { name: 'b', port: 0 }, { name: 'a', address: '127.0.0.1', port, fingerprint: ids.a.fingerprint }));
    links.push(b);
    const started = Date.now();
    const up = new Promise<void>((resolve) => a.server.once('peer-up', () => resolve()));
    b.client.start();
    // The client's normal reconnect time is at most 2 s; a stranger-filled server must not add to it.
    const ok = await Promise.race([up.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 4000))]);
    const took = Date.now() - started;
    const opened = await f.stop();
    stopFlood = undefined;
    process.stderr.write(`    peer admitted: ${ok} after ${took} ms, ${opened} flood sockets opened\n`);
    expect(ok, `b was kept out for ${took} ms by ${FLOOD_SOURCES} one-socket sources (seed ${seed})`).to.equal(true);
    expect(a.server.connection('b'), 'b is connected').to.not.equal(undefined);
  });

  it('a preferred IPv6 address written in another valid form still names the peer (a full gate admits it)', () => {
    const refused: string[] = [];
    const gate = new PreAuthGate({ maxPreAuthSockets: 4, maxPreAuthPerSource: 4, preAuthTimeoutMs: 60_000 }, (source, reason) => refused.push(`${source} ${reason}`));
    // What an administrator may write, and how a socket reports the same address.
    gate.prefer(['2001:0DB8:0:0::5', '::ffff:a00:7']);
    let port = 40000;
    const socket = (remoteAddress: string): Parameters<PreAuthGate['offer']>[0] => {
      const s = Object.assign(new EventEmitter(), { remoteAddress, remotePort: port++, destroyed: false, destroy: () => (s.destroyed = true) });
      return s as unknown as Parameters<PreAuthGate['offer']>[0];
    };
    const strangers = ['2001:db8::66', '2001:db8::67', '2001:db8::68', '2001:db8::69'].map((a) => gate.offer(socket(a)));
    expect(strangers.every((e) => e !== undefined), 'four strangers fill the gate').to.equal(true);
    expect(gate.offer(socket('2001:db8::70')), 'a fifth stranger is refused').to.equal(undefined);
    const peer = gate.offer(socket('2001:db8::5'));
    expect(peer?.preferred, `the peer as its socket reports it (refusals: ${refused.join(', ')})`).to.equal(true);
    expect(gate.offer(socket('::ffff:10.0.0.7'))?.preferred, 'IPv4-mapped, configured in hex').to.equal(true);
    gate.closeAll();
  });
});
