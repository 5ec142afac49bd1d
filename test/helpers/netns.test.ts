import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { createNetnsLab, netnsAvailable, requireNetnsOrSkip, removeStaleLabs } from './netns';

// The lab helper itself: real namespaces, real reachability, nothing left behind.
const probe = (port: number, host: string): string[] => [
  '-e',
  `const s=require('net').connect(${port},'${host}');s.setTimeout(700);s.on('connect',()=>{console.log('open');s.destroy()});s.on('error',e=>{console.log(e.code);});s.on('timeout',()=>{console.log('timeout');s.destroy()})`,
];

// Listens on port 7000 and echoes; prints one line once listening.
const ECHO_SERVER = `require('net').createServer((s)=>s.pipe(s)).listen(7000,'0.0.0.0',()=>console.log('listening'))`;
// Sends a line every 100 ms over one connection and prints the instant (its own clock, so the test's
// blocking probes do not shift it) each echo comes back.
const STREAM_CLIENT = `const s=require('net').connect(7000,process.argv[1],()=>setInterval(()=>s.write('x\\n'),100));s.on('data',(d)=>{for(const c of d.toString())if(c==='\\n')console.log(Date.now())});s.on('error',(e)=>{console.error(e.code);process.exit(1)})`;

async function until(done: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function namespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
}

describe('test/helpers/netns', function () {
  this.timeout(20_000);
  before(function () {
    // Namespaces need root and iproute2: CI has both, so there a missing one is a failure.
    if (!netnsAvailable()) requireNetnsOrSkip(this);
  });

  it('makes hosts that reach each other, cuts and heals one, and removes everything at cleanup', () => {
    const lab = createNetnsLab(3);
    try {
      const [h1, h2, h3] = lab.hosts as [typeof lab.hosts[0], typeof lab.hosts[0], typeof lab.hosts[0]];
      expect(lab.hosts.map((h) => h.address)).to.deep.equal(['10.231.0.1', '10.231.0.2', '10.231.0.3']);
      expect(lab.execIn(h1, 'ip', ['-4', '-o', 'addr', 'show', 'eth0'])).to.contain('10.231.0.1/24');
      // Nothing listens on h2:9: a reachable host answers "refused" at once; a cut one times out.
      expect(lab.execIn(h1, process.execPath, probe(9, h2.address)).trim()).to.equal('ECONNREFUSED');
      lab.partition(h2);
      expect(lab.execIn(h1, process.execPath, probe(9, h2.address)).trim()).to.be.oneOf(['timeout', 'EHOSTUNREACH']);
      expect(lab.execIn(h3, process.execPath, probe(9, h1.address)).trim()).to.equal('ECONNREFUSED');
      lab.heal(h2);
      expect(lab.execIn(h1, process.execPath, probe(9, h2.address)).trim()).to.equal('ECONNREFUSED');
      // The root namespace does not see the lab's addresses.
      expect(execFileSync('ip', ['-4', '-o', 'addr'], { encoding: 'utf8' })).to.not.contain('10.231.0.');
    } finally {
      lab.cleanup();
    }
    expect(namespaces().filter((n) => n.includes(lab.id))).to.deep.equal([]);
  });

  it('cuts one pair only, silently, stalls an open connection across the cut, and heals it', async () => {
    const lab = createNetnsLab(3);
    const [h1, h2, h3] = lab.hosts as [typeof lab.hosts[0], typeof lab.hosts[0], typeof lab.hosts[0]];
    try {
      // A listener on h2: "open" proves reachability both ways (the SYN arrives, the SYN-ACK returns).
      const server = lab.spawnIn(h2, process.execPath, ['-e', ECHO_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve) => server.stdout!.once('data', () => resolve()));
      const stream = lab.spawnIn(h1, process.execPath, ['-e', STREAM_CLIENT, h2.address], { stdio: ['ignore', 'pipe', 'inherit'] });
      const echoes: number[] = [];
      let buffered = '';
      stream.stdout!.on('data', (d: Buffer) => {
        buffered += d.toString();
        for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
          echoes.push(Number(buffered.slice(0, i)));
          buffered = buffered.slice(i + 1);
        }
      });
      await until(() => echoes.length >= 3);
      expect(lab.execIn(h1, process.execPath, probe(7000, h2.address)).trim()).to.equal('open');

      lab.cut(h1, h2);
      const cutAt = Date.now();
      // Both directions are dropped, silently (a timeout, never an instant error), ...
      expect(lab.execIn(h1, process.execPath, probe(7000, h2.address)).trim()).to.equal('timeout');
      expect(lab.execIn(h2, process.execPath, probe(9, h1.address)).trim()).to.equal('timeout');
      // ... while the third host still reaches both.
      expect(lab.execIn(h3, process.execPath, probe(7000, h2.address)).trim()).to.equal('open');
      expect(lab.execIn(h3, process.execPath, probe(9, h1.address)).trim()).to.equal('ECONNREFUSED');
      // The open connection stalls: no echo arrives after the cut (one in flight may), until the heal.
      lab.cut(h2, h1); // idempotent, either order
      const healAt = Date.now();
      lab.heal(h2, h1);
      await until(() => echoes.some((t) => t > healAt));
      const duringCut = echoes.filter((t) => t > cutAt + 50 && t < healAt).length;
      expect(healAt - cutAt, 'the cut lasted').to.be.greaterThan(1500);
      expect(duringCut, 'echoes across the cut').to.equal(0);
      // Healed: new connections open, and the stalled one resumed by itself (TCP retransmits).
      expect(lab.execIn(h1, process.execPath, probe(7000, h2.address)).trim()).to.equal('open');
      expect(stream.exitCode, 'the open connection survived the cut').to.equal(null);
      stream.kill('SIGKILL');
      server.kill('SIGKILL');
    } finally {
      lab.cleanup();
    }
  });

  it('removes namespaces left behind by a dead run', () => {
    const stale = 'vmmt-999999-dead00-h1';
    execFileSync('ip', ['netns', 'add', stale]);
    expect(removeStaleLabs()).to.include(stale);
    expect(namespaces()).to.not.include(stale);
  });
});
