import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';

// Real hosts for tests: each host is a network namespace with one veth ("eth0") whose other end sits
// on a bridge in a hub namespace. Nothing is created in the root namespace, addresses (10.231.0.x/24)
// exist only inside the lab, names carry the creating pid so a later run can remove the leftovers of
// a run that was killed, and cleanup runs on normal end and on process exit.

const PREFIX = 'vmmt';
const SUBNET = '10.231.0';

export interface NetnsHost {
  name: string;
  ns: string;
  address: string;
}

export interface NetnsLab {
  id: string;
  hosts: NetnsHost[];
  /** Starts a process inside a host's namespace; it is SIGKILLed at cleanup if still running. */
  spawnIn: (host: NetnsHost, command: string, args: string[], options?: SpawnOptions) => ChildProcess;
  /** Runs a command inside a host's namespace and returns its stdout. */
  execIn: (host: NetnsHost, command: string, args: string[]) => string;
  /** Cuts the host off the bridge (link down on both veth ends). */
  partition: (host: NetnsHost) => void;
  /** Reconnects a partitioned host; with `peer`, removes the pairwise cut between the two. */
  heal: (host: NetnsHost, peer?: NetnsHost) => void;
  /**
   * Drops all traffic between two hosts only, silently (a third host still reaches both): each side
   * discards what arrives from the other, so a connect times out and an open connection stalls,
   * as on a cut cable, not the instant error a local reject would give.
   */
  cut: (x: NetnsHost, y: NetnsHost) => void;
  cleanup: () => void;
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function deleteNamespace(ns: string): void {
  try {
    for (const pid of ip('netns', 'pids', ns).split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    ip('netns', 'del', ns);
  } catch {
    // already gone
  }
}

/** Lab namespaces (ours by prefix) left by runs whose process is dead. */
export function removeStaleLabs(): string[] {
  const removed: string[] = [];
  let list = '';
  try {
    list = ip('netns', 'list');
  } catch {
    return removed;
  }
  for (const line of list.split('\n')) {
    const ns = line.split(' ')[0] ?? '';
    const m = new RegExp(`^${PREFIX}-(\\d+)-`).exec(ns);
    if (m && !isAlive(Number(m[1]))) {
      deleteNamespace(ns);
      removed.push(ns);
    }
  }
  return removed;
}

// Pairwise cuts are policy-routing rules "from <peer> blackhole" (only iproute2 is installed here:
// no nft, no iptables, no tc actions). Received packets are matched too, so they must come before
// the rule that delivers local traffic (preference 0 by default): it moves to LOCAL_RULE_PREF.
const CUT_RULE_PREF = 10;
const LOCAL_RULE_PREF = 100;
function preparePolicyRouting(ns: string, prepared: Set<string>): void {
  if (prepared.has(ns)) return;
  ip('-n', ns, 'rule', 'add', 'pref', String(LOCAL_RULE_PREF), 'lookup', 'local');
  ip('-n', ns, 'rule', 'del', 'pref', '0', 'lookup', 'local');
  prepared.add(ns);
}

let probed: boolean | undefined;
/** True when this process may create network namespaces (root with iproute2). */
export function netnsAvailable(): boolean {
  if (probed !== undefined) return probed;
  const ns = `${PREFIX}-${process.pid}-probe`;
  try {
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    probed = true;
  } catch {
    probed = false;
  } finally {
    deleteNamespace(ns);
  }
  return probed;
}

/** Creates `count` hosts (h1.., addresses 10.231.0.1..) on one bridge. */
export function createNetnsLab(count: number): NetnsLab {
  removeStaleLabs();
  const id = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const hub = `${PREFIX}-${id}-hub`;
  const hosts: NetnsHost[] = [];
  const children = new Set<ChildProcess>();
  const created: string[] = [];
  const cleanup = (): void => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    children.clear();
    for (const ns of created.splice(0).reverse()) deleteNamespace(ns);
    process.off('exit', cleanup);
  };
  process.on('exit', cleanup);
  try {
    ip('netns', 'add', hub);
    created.push(hub);
    ip('-n', hub, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', hub, 'link', 'set', 'br0', 'up');
    for (let i = 1; i <= count; i++) {
      const ns = `${PREFIX}-${id}-h${i}`;
      ip('netns', 'add', ns);
      created.push(ns);
      ip('link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', `h${i}`, 'netns', hub);
      ip('-n', hub, 'link', 'set', `h${i}`, 'master', 'br0');
      ip('-n', hub, 'link', 'set', `h${i}`, 'up');
      ip('-n', ns, 'addr', 'add', `${SUBNET}.${i}/24`, 'dev', 'eth0');
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      hosts.push({ name: `h${i}`, ns, address: `${SUBNET}.${i}` });
    }
  } catch (err) {
    cleanup();
    throw err;
  }
  const index = (h: NetnsHost): number => {
    const i = hosts.indexOf(h);
    if (i < 0) throw new Error(`host ${h.name} is not in lab ${id}`);
    return i + 1;
  };
  const cuts = new Set<string>();
  const prepared = new Set<string>();
  const pairKey = (x: NetnsHost, y: NetnsHost): string => [index(x), index(y)].sort((p, q) => p - q).join('-');
  const setCut = (x: NetnsHost, y: NetnsHost, on: boolean): void => {
    if (x === y) throw new Error('a host cannot be cut from itself');
    const key = pairKey(x, y);
    if (cuts.has(key) === on) return;
    for (const [self, other] of [[x, y], [y, x]] as const) {
      const pref = String(CUT_RULE_PREF + index(other));
      if (on) {
        preparePolicyRouting(self.ns, prepared);
        ip('-n', self.ns, 'rule', 'add', 'pref', pref, 'from', other.address, 'blackhole');
      } else ip('-n', self.ns, 'rule', 'del', 'pref', pref);
    }
    if (on) cuts.add(key);
    else cuts.delete(key);
  };
  return {
    id,
    hosts,
    spawnIn: (host, command, args, options = {}) => {
      const child = spawn('ip', ['netns', 'exec', host.ns, command, ...args], options);
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    execIn: (host, command, args) => execFileSync('ip', ['netns', 'exec', host.ns, command, ...args], { encoding: 'utf8' }),
    partition: (host) => {
      ip('-n', hub, 'link', 'set', `h${index(host)}`, 'down');
      ip('-n', host.ns, 'link', 'set', 'eth0', 'down');
    },
    heal: (host, peer) => {
      if (peer !== undefined) return setCut(host, peer, false);
      ip('-n', hub, 'link', 'set', `h${index(host)}`, 'up');
      ip('-n', host.ns, 'link', 'set', 'eth0', 'up');
    },
    cut: (x, y) => setCut(x, y, true),
    cleanup,
  };
}

/** Skips a suite that needs network namespaces when they cannot be made here, but fails under CI (CI=true), where they must work. */
export function requireNetnsOrSkip(ctx: Mocha.Context): void {
  if (process.env.CI) throw new Error('network namespaces are unavailable (need root and iproute2); CI must run these tests');
  ctx.skip();
}
