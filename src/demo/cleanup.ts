import { rm } from 'node:fs/promises';
import { VmmirrorError } from '../errors';
import { labPaths } from '../lab/layout';

// Whatever happens to the demo (done, failed, Ctrl-C, SIGTERM), nothing of it may stay behind:
// the lab's processes run detached (their own process groups, so a Ctrl-C in the terminal does
// not reach them) and its VMs are processes too. This kills them all and removes the folder.

export interface DemoCleanup {
  /** Kills every process of the lab and removes its folder (keeps the folder with `keep`). Idempotent. */
  run(): Promise<void>;
  /**
   * Runs one step that changes the lab (create, start, crash, stop, a move). After a signal none
   * starts (CANCELLED), and the cleanup waits for the one in flight first: a process being started
   * has no pid file yet, and killing before it is written would leave it running.
   */
  act<T>(step: () => Promise<T>): Promise<T>;
  /** A signal came: the demo must stop acting. */
  readonly signalled: boolean;
  /** Stops listening for signals (the demo is over). */
  dispose(): void;
}

/** Kills the lab's agents, guards, witness and VMs. Safe on a lab that is half made or already stopped. */
export async function killLab(labDir: string): Promise<void> {
  const { endProcesses } = require('../lab/processes') as typeof import('../lab/processes');
  const { crashSimulatedHost } = require('../hypervisor/simulated') as typeof import('../hypervisor/simulated');
  const p = labPaths(labDir);
  // Agents and guards first, so none starts a VM again while the VMs are being killed.
  await endProcesses(p, ['hva-agent', 'hvb-agent', 'hva-guard', 'hvb-guard', 'witness'], 'kill').catch(() => undefined);
  for (const h of ['hva', 'hvb'] as const) await crashSimulatedHost(p.host(h).simDir).catch(() => undefined);
}

/**
 * Installs SIGINT/SIGTERM handlers for the demo rooted at `root` (a temporary folder holding the
 * lab). On a signal: kill, remove, tell `onSignal` (which prints what the contract asks), exit
 * 130 (SIGINT) or 143 (SIGTERM), as a shell reports a process ended by that signal.
 */
export function demoCleanup(o: { root: string; labDir: string; keep: boolean; onSignal: (signal: NodeJS.Signals) => void; say: (line: string) => void }): DemoCleanup {
  let running: Promise<void> | null = null;
  let inFlight: Promise<unknown> | null = null;
  let signalled = false;
  const run = (): Promise<void> => {
    running ??= (async () => {
      await inFlight?.catch(() => undefined);
      await killLab(o.labDir);
      if (!o.keep) await rm(o.root, { recursive: true, force: true, maxRetries: 3 });
    })();
    return running;
  };
  const handler = (signal: NodeJS.Signals): void => {
    signalled = true;
    o.say(`${signal}: stopping the lab's processes and removing ${o.keep ? 'nothing (--keep)' : o.root}`);
    void run().finally(() => {
      o.onSignal(signal);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    run,
    get signalled() {
      return signalled;
    },
    act<T>(step: () => Promise<T>): Promise<T> {
      if (signalled) return Promise.reject(cancelled());
      const p = step();
      inFlight = p;
      return p;
    },
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

function cancelled(): VmmirrorError {
  return new VmmirrorError('CANCELLED', 'vmmirror demo: interrupted; cleaning up');
}
