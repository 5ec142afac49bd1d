import type { LoadedConfig } from '../config';
import { PeerError, UsageError, VmmirrorError, hasCode } from '../errors';
import type { Hypervisor } from '../hypervisor/types';
import { componentLogger, type Logger } from '../log';
import { readToken } from './control/auth';
import { StatusDocument, SyncReport } from './control/documents';
import { startControlServer } from './control/server';
import { resolveVm, runCycle, senderStateDir } from './cycle';
import { startHeartbeats, recordHeartbeat, type PeerView } from './heartbeat';
import { agentHypervisor } from './hypervisor';
import { createLink } from './link';
import { AgentHeartbeat, CycleBegin, CycleResult, ManifestFetch, type ModuleSummary } from './messages';
import { ModuleRunner } from './module-runner';
import { readReferences } from './references';
import { ReplicaSide } from './replica-side';
import { decideRole } from './role';
import { Semaphore } from './semaphore';
import { buildStatus, syncReportJson } from './status';
import { StreamRouter } from './stream-router';
import { ViewKeeper } from './views';

// `vmmirror agent`: wires the peer link, the control API and one loop per module. Everything that
// can fail on bad input (config, identity files, token) is read before any listener opens.

export interface RunningAgent {
  /** Resolves when the agent has stopped. */
  stopped: Promise<void>;
  /** Graceful stop: schedules off, in-flight cycles finish within `graceMs` or are aborted, link closed. */
  stop(graceMs?: number): Promise<void>;
  controlAddress: string;
  peerPort: number;
}

/** Starts an agent for a loaded (valid) config. */
export async function startAgent(config: LoadedConfig): Promise<RunningAgent> {
  const log = componentLogger('agent', { host: config.self.Name });
  const startedAt = new Date();
  const token = await readToken(config.tokenPath);
  const hypervisor = agentHypervisor(config);
  const link = await createLink(config);
  const replicas = new ReplicaSide(config);
  const router = new StreamRouter((id, module, r) => replicas.acceptDelta(id, module, r));
  const peerView: PeerView = { lastHeartbeatAt: null, modules: new Map() };
  const semaphore = new Semaphore(config.agent.MaxConcurrentCycles);
  const views = new ViewKeeper(hypervisor, log);
  const cycleDeps = { config, hypervisor, router, views, log, connection: () => link.connection() };
  const runners = config.modules.map(
    (m) => new ModuleRunner(m, decideRole({ selfName: config.self.Name, module: m }), { semaphore, log, cycle: (mod, signal) => runCycle(cycleDeps, mod, signal) }),
  );
  const acknowledged = new Map<string, { generation: number; takenAt: string | null }>();
  const refreshAcknowledged = async (): Promise<void> => {
    for (const r of runners) {
      if (r.role !== 'primary') continue;
      const last = r.lastCycle;
      if (last !== null) acknowledged.set(r.module.name, { generation: last.toGeneration, takenAt: last.takenAt.toISOString() });
      else {
        const refs = await readReferences(senderStateDir(config, r.module.name));
        if (refs !== null) acknowledged.set(r.module.name, { generation: refs.generation, takenAt: acknowledged.get(r.module.name)?.takenAt ?? null });
      }
    }
  };
  const summaries = (): ModuleSummary[] => {
    const held = replicas.summaries();
    return runners.map((r) => {
      const g = r.role === 'primary' ? acknowledged.get(r.module.name) : held.get(r.module.name);
      return { name: r.module.name, role: r.role, generation: g?.generation ?? null, takenAt: g?.takenAt ?? null };
    });
  };

  for (const h of [link.server, link.client]) {
    h.onRequest(AgentHeartbeat, (body) => {
      recordHeartbeat(peerView, body);
      return { host: config.self.Name, sentAt: new Date().toISOString(), modules: summaries() };
    });
    h.onRequest(CycleBegin, (body, conn) => replicas.begin(body, conn));
    h.onRequest(CycleResult, (body) => replicas.result(body));
    h.onRequest(ManifestFetch, (body, conn) => replicas.sendManifest(body, conn));
    h.onStream((id, readable, info) => router.handle(id, readable, info));
  }

  await replicas.openKnown();
  await releaseLeftoversAtStart(config, hypervisor, views, log);
  await refreshAcknowledged();
  const listening = await link.server.listen().catch(async (err: unknown) => {
    await replicas.close();
    throw err instanceof VmmirrorError ? err : new PeerError('PEER_UNREACHABLE', `cannot listen on ${config.self.Address}:${config.self.Port}: ${(err as Error).message}`, { cause: err });
  });
  let control: Awaited<ReturnType<typeof startControlServer>>;
  try {
    control = await startControlServer(
      config.agent.ControlSocket !== undefined ? { socketPath: config.agent.ControlSocket } : { port: config.agent.ControlPort ?? 7421 },
      token,
      {
        status: async () => {
          await refreshAcknowledged();
          return StatusDocument.parse(
            buildStatus({ config, startedAt, now: new Date(), connected: link.current() !== undefined, peer: peerView, runners, replicas: replicas.summaries(), replicaFailures: replicas.openFailures(), acknowledged }),
          );
        },
        sync: async (name) => {
          const r = runners.find((x) => x.module.name === name);
          if (r === undefined) throw new VmmirrorError('MODULE_NOT_FOUND', `no module named ${JSON.stringify(name)} (modules: ${runners.map((x) => x.module.name).join(', ') || 'none'})`);
          if (r.role !== 'primary') throw new VmmirrorError('MODULE_NOT_PRIMARY', `${config.self.Name} is the secondary of ${name}; run sync on its primary ${r.module.defaultPrimary}`);
          const report = await r.syncNow();
          await refreshAcknowledged();
          return SyncReport.parse(syncReportJson(report));
        },
      },
    );
  } catch (err) {
    await link.close();
    await replicas.close();
    throw err instanceof VmmirrorError ? err : new UsageError(`control API could not listen: ${(err as Error).message}`, { cause: err });
  }
  link.client.start();
  const stopHeartbeats = startHeartbeats({ intervalMs: config.agent.HeartbeatIntervalMs, host: config.self.Name, current: () => link.current(), summaries, view: peerView, log });
  for (const r of runners) r.start();
  log.info({ peerPort: listening.port, control: control.address, modules: runners.map((r) => `${r.module.name}:${r.role}`) }, 'agent started');

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  let stopping: Promise<void> | null = null;
  const stop = (graceMs = 10_000): Promise<void> => {
    stopping ??= (async () => {
      log.info('agent stopping');
      await Promise.all(runners.map((r) => r.stop(graceMs)));
      stopHeartbeats();
      await control.close();
      await link.close();
      await replicas.close();
      log.info('agent stopped');
      resolveStopped();
    })();
    return stopping;
  };
  return { stopped, stop, controlAddress: control.address, peerPort: listening.port };
}

// An agent killed between freeze and release leaves the view open (on Hyper-V a recovery
// checkpoint): release what vmmirror left on each module's VM before any cycle runs. A VM that is
// not on this host (the secondary's side) is skipped; a failure is logged and retried at the next freeze.
async function releaseLeftoversAtStart(config: LoadedConfig, hypervisor: Hypervisor, views: ViewKeeper, log: Logger): Promise<void> {
  for (const m of config.modules) {
    let vmId: string;
    try {
      vmId = await resolveVm(hypervisor, m);
    } catch (err) {
      if (!hasCode(err, 'VM_NOT_FOUND')) log.warn({ module: m.name, code: (err as { code?: string }).code, err }, 'cannot look for frozen views left open');
      continue;
    }
    await views.releaseLeftovers(vmId, 'agent start').catch((err: unknown) => log.warn({ module: m.name, vmId, code: (err as { code?: string }).code, err }, 'releasing frozen views left open failed; retried before the next freeze'));
  }
}
