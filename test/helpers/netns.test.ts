import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { createNetnsLab, netnsAvailable, requireNetnsOrSkip, removeStaleLabs } from './netns';

// The lab helper itself: real namespaces, real reachability, nothing left behind.
const probe = (port: number, host: string): string[] => [
  '-e',
  `const s=require('net').connect(${port},'${host}');s.setTimeout(700);s.on('connect',()=>{console.log('open');s.destroy()});s.on('error',e=>{console.log(e.code);});s.on('timeout',()=>{console.log('timeout');s.destroy()})`,
];

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

  it('removes namespaces left behind by a dead run', () => {
    const stale = 'vmmt-999999-dead00-h1';
    execFileSync('ip', ['netns', 'add', stale]);
    expect(removeStaleLabs()).to.include(stale);
    expect(namespaces()).to.not.include(stale);
  });
});
