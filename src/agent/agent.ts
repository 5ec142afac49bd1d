import type { LoadedConfig, ResolvedModule } from '../config';
import { initialSnapshot, type VmActivity } from '../cluster';
import { readModuleRecord } from '../cluster/record-store';
import type { ModuleRecord } from '../cluster/record';
import { PeerError, UsageError, VmmirrorError, hasCode } from '../errors';
import type { Hypervisor, VmId } from '../hypervisor/types';
import { componentLogger } from '../log';
import { monoNow } from '../util/mono';
import { createWitnessClient, type WitnessClient } from '../witness';
import { HookRunner } from '../hooks';
import { readToken } from './control/auth';
import { StatusDocument, SwitchoverDocument, SyncReport } from './control/documents';
import { switchoverJson, withLastSwitchover } from './control/switchover-json';
import { withLastHookFailure } from './control/hooks-json';
import { withMaintenance } from './control/maintenance-json';
import { OperatorSwitchover } from './cluster/operator-switchover';
import { startControlServer } from './control/server';
import { resolveVm, runCycle, senderStateDir } from './cycle';
import { EffectRunner } from './cluster/effects';
import { GuardLeaseWriter, leaseKeptByGuard } from './cluster/guard-writer';
import { FreshnessWriter, freshnessEntries, readFreshness } from './cluster/freshness';
import { answerHeartbeat, startClusterHeartbeats, startSecondaryHeartbeats } from './cluster/peer-sync';
import { ClusterRuntime } from './cluster/runtime';
import { clusterSettings, recordsDir } from './cluster/settings';
import { Switchover } from './cluster/switchover';
import { Maintenance } from './cluster/maintenance';
import { MaintenanceAsk } from './cluster/maintenance-wire';
import { activityOf, startVmWatch } from './cluster/vm-watch';
import { HealthWatch } from './cluster/health-watch';
import { healthDir, readHealthRecords, writeHealthRecord } from './cluster/health-store';
import { HealthCarry } from './cluster/health-wire';
import { agentHypervisor } from './hypervisor';
import { createLink } from './link';
import { AgentHeartbeat, CycleBegin, CycleResult, HandoverRequest, ManifestFetch, ResyncRequest, SwitchoverAsk, type ClusterModuleView, type ModuleSummary } from './messages';
import { ModuleRunner } from './module-runner';
import { readReferences } from './references';
import { ReplicaSide } from './replica-side';
import { releaseLeftoversAtStart } from './leftovers';
import { Semaphore } from './semaphore';
import { buildStatus, syncReportJson } from './status';
import { StreamRouter } from './stream-router';
import { ViewKeeper } from './views';
import { createBalancePeerSide, relayBalanceRewrite } from '../balance/peer-side';
import { BalanceRewrite } from '../balance/wire';
import { VmConfigCommit, VmConfigPart } from './messages';
import { registerFromStoredConfig } from './vm-config-register';
import { VmConfigShipper } from './vm-config-ship';
import { gatedVmConfig } from './vm-config-gate';
import { VmConfigStore } from './vm-config-store';

// `vmmirror agent`: wires the peer link, the control API, the cluster layer (src/cluster/ through
// ./cluster/: runtime, effects, guard lease, heartbeats, switchover) and one replication loop per
// module. Everything that can fail on bad input (config, identity files, token, module records)
// is read before any listener opens.

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
  const settings = clusterSettings(config);
  // A damaged record stops the agent here: it must not guess an epoch or an owner (C2).
  const records: Record<string, ModuleRecord | undefined> = {};
  for (const m of config.modules) records[m.name] = (await readModuleRecord(recordsDir(config), m.name)) ?? undefined;

  const hypervisor = agentHypervisor(config);
  // Fencing, start and stop never wait behind a long freeze or RCT call: Hyper-V gets a second
  // PowerShell session. The simulated driver answers those at once and assumes one driver per host.
  const control: Hypervisor = config.hypervisor.Driver === 'hyperv' ? agentHypervisor(config) : hypervisor;
  const vmIds = new Map<string, VmId>();
  const vmIdOf = async (m: ResolvedModule): Promise<VmId> => {
    const known = vmIds.get(m.name);
    if (known !== undefined) return known;
    const id = await resolveVm(control, m);
    vmIds.set(m.name, id);
    return id;
  };
  const link = await createLink(config);
  let rt: ClusterRuntime | undefined;
  const runtime = (): ClusterRuntime => {
    if (rt === undefined) throw new VmmirrorError('AGENT_UNREACHABLE', 'the agent is still starting');
    return rt;
  };
  const replicas = new ReplicaSide(config, {
    gate: (module, epoch) => runtime().gate(module, epoch),
    localVmDisks: async (module) => {
      const m = config.modules.find((x) => x.name === module)!;
      try {
        const vm = await control.getVm(await vmIdOf(m));
        return vm === null ? null : vm.disks.filter((d) => d.problem === undefined).map((d) => ({ basePath: d.basePath, sizeBytes: d.sizeBytes }));
      } catch {
        return null;
      }
    },
    onApplied: (module, epoch, generation) => rt?.dispatch({ type: 'cycle-done', module, epoch, generation }),
  });
  const router = new StreamRouter((id, module, r) => replicas.acceptDelta(id, module, r));
  const semaphore = new Semaphore(config.agent.MaxConcurrentCycles);
  const views = new ViewKeeper(hypervisor, log);
  const cycleDeps = { config, hypervisor, router, views, log, connection: () => link.connection() };
  // The VM's exported configuration travels to the peer after a cycle (never beside a frozen view),
  // and registers the replica VM there at a takeover (docs/cluster.md "Registering the replica").
  const vmConfigs = new VmConfigStore(config);
  const shipper = new VmConfigShipper({ config, hypervisor, log, vmIdOf, connection: (ms) => link.connection(ms) });
  const registerReplica = (m: ResolvedModule): Promise<VmId> => registerFromStoredConfig({ config, control, store: vmConfigs, log }, m);
  const vmIdOrRegister = (m: ResolvedModule): Promise<VmId> => vmIdOf(m).catch((err: unknown) => (hasCode(err, 'VM_NOT_FOUND') ? registerReplica(m) : Promise.reject(err)));
  const runners = new Map<string, ModuleRunner>();
  for (const m of config.modules) {
    runners.set(
      m.name,
      new ModuleRunner(m, {
        semaphore,
        log,
        cycle: async (mod, o) => {
          const r = await runCycle(cycleDeps, mod, o);
          await shipper.afterCycle(mod, o.epoch);
          return r;
        },
        epoch: () => rt?.sendEpoch(m.name) ?? null,
        done: (r, epoch) => rt?.dispatch({ type: 'cycle-done', module: m.name, epoch, generation: r.toGeneration }),
      }),
    );
  }
  const identity = { keyPem: await readFileText(config.keyPath), certPem: await readFileText(config.certificatePath) };
  const witness: WitnessClient | null =
    config.witness === undefined
      ? null
      : createWitnessClient(config.witness, { hostName: config.self.Name, peerName: config.peer.Name, identity, modules: config.modules.map((m) => m.name), timings: settings, renewIntervalMs: config.agent.HeartbeatIntervalMs, requestTimeoutMs: Math.max(1000, config.agent.HeartbeatIntervalMs * 2) });
  let witnessLeaseAt: Date | null = null;
  // The operator's hooks (docs/hooks.md); the agent's shutdown kills any still running.
  const hooksAbort = new AbortController();
  const hooks = new HookRunner(config, { signal: hooksAbort.signal });
  const guardWriter = new GuardLeaseWriter(config.dataDir, config.self.Name, (module) => vmIds.get(module), log);
  const effects: EffectRunner = new EffectRunner({
    config,
    control,
    witness,
    recordsDir: recordsDir(config),
    log,
    dispatch: (e) => runtime().dispatch(e),
    vmIdOf,
    releaseReplica: (module) => replicas.release(module),
    beforeStart: async (module) => guardWriter.update(runtime().snapshot, [module]),
    resync: (module, epoch) => switchover.resync(module, epoch),
    failback: (module, epoch) => switchover.failback(module, epoch),
    registerReplica,
    afterStart: (module) => shipper.markStarted(module),
    hooks,
    epochOf: (module) => runtime().snapshot.modules[module]?.epoch ?? 0,
  });
  // Created once the runtime exists (below); the effects that use it run only after that.
  let switchover!: Switchover;

  const vms: Record<string, VmActivity | undefined> = {};
  for (const m of config.modules) {
    try {
      vms[m.name] = activityOf((await control.getVm(await vmIdOf(m)))?.state ?? null) ?? 'running';
    } catch {
      vms[m.name] = 'off';
    }
  }
  // The cold-start opt-in's durable knowledge (./cluster/freshness.ts), read before the first decision.
  const freshnessRecord = await readFreshness(config.dataDir, log);
  // Maintenance (./cluster/maintenance.ts) survives a restart: the first decision already knows it.
  const inMaintenance = await Maintenance.selfFlag(recordsDir(config), config.self.Name);
  rt = new ClusterRuntime(
    initialSnapshot({
      self: config.self.Name,
      peerName: config.peer.Name,
      settings,
      now: monoNow(),
      modules: config.modules.map((m) => ({ name: m.name, defaultPrimary: m.defaultPrimary, failback: m.policies.failback, fenceMode: m.policies.stopMode === 'Save' ? 'Save' : 'TurnOff', coldStartAloneMs: m.policies.coldStartAloneSeconds == null ? null : m.policies.coldStartAloneSeconds * 1000, startPriority: m.policies.startPriority ?? 'Medium' })),
      freshness: freshnessEntries(freshnessRecord),
      records,
      vms,
      lease: await leaseKeptByGuard(config.dataDir, settings.fenceLeadMs, settings.leaseMs + 1000),
      maintenance: inMaintenance,
    }),
    { effects: (list) => effects.enqueue(list), changed: (s) => void guardWriter.update(s) },
    log,
  );
  switchover = new Switchover({ config, rt, runners, effects, control, witness, connection: () => link.connection(), vmIdOf: vmIdOrRegister, releaseReplica: (m) => replicas.release(m), beforeStart: async (module) => guardWriter.update(runtime().snapshot, [module]), hungGuest: (module) => healthWatch.hung(module), hooks, inMaintenance: (host) => maintenance.inMaintenance(host), log });
  let maintenance!: Maintenance;
  const operator = new OperatorSwitchover({ config, rt, switchover, control, vmIdOf, storedConfig: (module) => vmConfigs.current(module), connection: () => link.connection(), log });
  // VM health (docs/cluster.md "VM health"): a hung guest is restarted here, then moved by the operator's switchover.
  const healthWatch: HealthWatch = new HealthWatch({
    config, rt, control, vmIdOf, log,
    beforeStart: async (module) => guardWriter.update(runtime().snapshot, [module]),
    effectsBusy: (module) => effects.isBusy(module),
    carry: async (body) => void (await (await link.connection()).request(HealthCarry, body, { timeoutMs: 10_000 })),
    relocate: async (module) => void (await operator.run(module, { action: 'failover', whatIf: false })),
    records: await readHealthRecords(healthDir(config.dataDir), config.modules.map((m) => m.name), log),
    persist: (r) => writeHealthRecord(healthDir(config.dataDir), r),
  });

  maintenance = await Maintenance.load({ config, rt, operator, recordsDir: recordsDir(config), connection: () => link.connection(), log });

  const peerView = { lastHeartbeatAt: null as Date | null, modules: new Map<string, ModuleSummary>() };
  let peerCluster: Record<string, ClusterModuleView> = {};
  const acknowledged = new Map<string, { generation: number; takenAt: string | null }>();
  const refreshAcknowledged = async (): Promise<void> => {
    for (const [name, r] of runners) {
      const last = r.lastCycle;
      if (last !== null) acknowledged.set(name, { generation: last.toGeneration, takenAt: last.takenAt.toISOString() });
      else {
        const refs = await readReferences(senderStateDir(config, name)).catch(() => null);
        if (refs !== null) acknowledged.set(name, { generation: refs.generation, takenAt: acknowledged.get(name)?.takenAt ?? null });
      }
    }
  };
  const summaries = (): ModuleSummary[] => {
    const held = replicas.summaries();
    const snap = rt?.snapshot;
    return config.modules.map((m) => {
      const owner = snap?.modules[m.name]?.owner === config.self.Name;
      // The owner's figure is live (the last cycle), not the one status() last refreshed: the peer's
      // cold-start freshness record counts from it (./cluster/freshness.ts).
      const last = runners.get(m.name)?.lastCycle ?? null;
      const g = owner ? (last !== null ? { generation: last.toGeneration, takenAt: last.takenAt.toISOString() } : acknowledged.get(m.name)) : held.get(m.name);
      return { name: m.name, role: owner ? 'primary' : 'secondary', generation: g?.generation ?? null, takenAt: g?.takenAt ?? null };
    });
  };
  const freshness = new FreshnessWriter(config.dataDir, config.peer.Name, config.modules.filter((m) => m.policies.coldStartAloneSeconds != null).map((m) => m.name), log, freshnessRecord);
  const recordPeer = (body: { sentAt: string; modules: ModuleSummary[]; cluster?: { modules: Record<string, ClusterModuleView>; maintenance?: boolean } }): void => {
    freshness.heard(runtime().snapshot, body);
    peerView.lastHeartbeatAt = new Date();
    peerView.modules = new Map(body.modules.map((m) => [m.name, m]));
    if (body.cluster !== undefined) peerCluster = body.cluster.modules;
    maintenance.heardPeer(body.cluster?.maintenance);
  };

  // `vmmirror balance --apply` run on the peer rewrites this host's module files (docs/balance.md).
  const balance = createBalancePeerSide(config, () => hypervisor);
  for (const h of [link.server, link.client]) {
    h.onRequest(AgentHeartbeat, (body) => {
      recordPeer(body);
      return answerHeartbeat(runtime(), body, config.self.Name, summaries, () => undefined);
    });
    h.onRequest(CycleBegin, (body, conn) => replicas.begin(body, conn));
    h.onRequest(CycleResult, (body) => replicas.result(body));
    h.onRequest(ManifestFetch, (body, conn) => replicas.sendManifest(body, conn));
    h.onRequest(ResyncRequest, (body) => switchover.answerResync(body));
    h.onRequest(HandoverRequest, (body) => switchover.answerHandover(body));
    // Parts and the commit only from the owner, at the epoch this host holds the replica under.
    const vmConfigGated = gatedVmConfig((module, epoch) => runtime().gate(module, epoch), vmConfigs);
    h.onRequest(VmConfigPart, vmConfigGated.part);
    h.onRequest(VmConfigCommit, vmConfigGated.commit);
    h.onRequest(SwitchoverAsk, (body) => operator.answerAsk(body));
    h.onRequest(HealthCarry, (body) => healthWatch.accept(body));
    h.onRequest(BalanceRewrite, (body) => balance.answer(body));
    h.onRequest(MaintenanceAsk, (body) => maintenance.answer(body));
    h.onStream((id, readable, info) => router.handle(id, readable, info));
  }
  witness?.on('event', (e: Parameters<ClusterRuntime['dispatch']>[0]) => {
    if (e.type === 'witness-lease') witnessLeaseAt = new Date();
    rt?.dispatch(e);
  });

  await refreshAcknowledged();
  const listening = await link.server.listen().catch(async (err: unknown) => {
    await replicas.close();
    throw err instanceof VmmirrorError ? err : new PeerError('PEER_UNREACHABLE', `cannot listen on ${config.self.Address}:${config.self.Port}: ${(err as Error).message}`, { cause: err });
  });
  const status = async (): Promise<StatusDocument> => {
    await refreshAcknowledged();
    const snap = runtime().snapshot;
    const lastCycles = new Map<string, NonNullable<ModuleRunner['lastCycle']>>();
    const lastErrors = new Map<string, { code: string; message: string; at: Date }>();
    const cycles = new Map<string, { running: boolean; nextAt: Date | null }>();
    for (const [name, r] of runners) {
      if (r.lastCycle !== null) lastCycles.set(name, r.lastCycle);
      if (r.lastError !== null) lastErrors.set(name, r.lastError);
      cycles.set(name, { running: r.running, nextAt: r.nextAt() });
    }
    const resync = new Map<string, { bytesDone: number; bytesTotal: number; startedAt: Date }>();
    for (const [name, r] of switchover.resyncs) resync.set(name, { bytesDone: r.bytesDone, bytesTotal: r.bytesTotal, startedAt: r.startedAt });
    return StatusDocument.parse(withMaintenance(withLastHookFailure(healthWatch.withHealth(
      withLastSwitchover(buildStatus({
        config,
        startedAt,
        now: new Date(),
        monoNow: monoNow(),
        connected: link.current() !== undefined,
        cluster: snap,
        peer: peerView,
        peerCluster,
        witness: config.witness === undefined ? null : { kind: config.witness.Kind, reachable: witnessLeaseAt !== null && Date.now() - witnessLeaseAt.getTime() < settings.leaseMs, lastLeaseAt: witnessLeaseAt },
        replicas: replicas.summaries(),
        acknowledged,
        replicaFailures: replicas.openFailures(),
        lastCycles,
        lastErrors,
        resync,
        discarded: switchover.discarded,
        cycles,
      }), switchover.failbacks),
    ), effects.hookFailures), maintenance.status()));
  };
  let control2: Awaited<ReturnType<typeof startControlServer>>;
  try {
    control2 = await startControlServer(config.agent.ControlSocket !== undefined ? { socketPath: config.agent.ControlSocket } : { port: config.agent.ControlPort ?? 7421 }, token, {
      status,
      sync: async (name) => {
        const r = runners.get(name);
        if (r === undefined) throw new VmmirrorError('MODULE_NOT_FOUND', `no module named ${JSON.stringify(name)} (modules: ${[...runners.keys()].join(', ') || 'none'})`);
        // A module still settling (agent just started, peer just back) gets a moment to become sendable.
        const until = Date.now() + config.agent.PeerLossTimeoutMs * 2;
        while (runtime().sendEpoch(name) === null && runtime().snapshot.modules[name]?.state === 'WAIT' && Date.now() < until) await new Promise((res) => setTimeout(res, 100));
        const m = runtime().snapshot.modules[name];
        // Run by this host: send now (ALONE too: with the peer gone the cycle fails PEER_UNREACHABLE, and says so).
        const epoch = runtime().sendEpoch(name) ?? (m?.owner === config.self.Name && (m.state === 'PRIM' || m.state === 'ALONE') ? m.epoch : null);
        if (epoch === null) throw new VmmirrorError('MODULE_NOT_PRIMARY', `${config.self.Name} does not run ${name} now (state ${m?.state}, owner ${m?.owner ?? 'none'}); run sync on the host that runs it`);
        const report = await r.syncNow(epoch);
        await refreshAcknowledged();
        return SyncReport.parse(syncReportJson(report));
      },
      switchover: async (name, o) => SwitchoverDocument.parse(switchoverJson(await operator.run(name, o))),
      balancePeer: (planId, undo) => relayBalanceRewrite(link.current(), config.peer.Name, planId, undo),
      maintenance: (host, action, whatIf) => maintenance.command(host, action, whatIf),
    });
  } catch (err) {
    await link.close();
    await replicas.close();
    throw err instanceof VmmirrorError ? err : new UsageError(`control API could not listen: ${(err as Error).message}`, { cause: err });
  }
  link.client.start();
  rt.start();
  witness?.start();
  const stopHeartbeats = startClusterHeartbeats({ rt, intervalMs: config.agent.HeartbeatIntervalMs, host: config.self.Name, current: () => link.current(), summaries, onReply: recordPeer, log });
  const stopSecondary = await startSecondaryHeartbeats({ link: link.secondary, rt, intervalMs: config.agent.HeartbeatIntervalMs, host: config.self.Name, summaries, onPeerBody: recordPeer, log });
  const stopWatch = startVmWatch({ modules: config.modules, hypervisor: control, runtime: rt, vmIdOf, busy: (m) => effects.isBusy(m), intervalMs: Math.max(250, Math.min(1000, config.agent.HeartbeatIntervalMs)), log, health: healthWatch });
  // The lease inherited from the guard runs out seconds after a restart: votes are asked for first
  // (above), the slow housekeeping comes after. Views a killed agent left open go before any cycle;
  // replicas a crash left mid-journal are finished (a takeover or a cycle.begin that comes first
  // opens, and so recovers, its replica itself).
  await releaseLeftoversAtStart({ config, hypervisor, views, log, vmIdOf });
  await replicas.openKnown();
  for (const r of runners.values()) r.start();
  log.info({ peerPort: listening.port, control: control2.address, modules: config.modules.map((m) => m.name), witness: config.witness?.Kind ?? null }, 'agent started');

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  let stopping: Promise<void> | null = null;
  const stop = (graceMs = 10_000): Promise<void> => {
    stopping ??= (async () => {
      log.info('agent stopping');
      await Promise.all([...runners.values()].map((r) => r.stop(graceMs)));
      stopHeartbeats();
      stopSecondary();
      await freshness.drain();
      stopWatch();
      await healthWatch.flushed();
      rt?.stop();
      await effects.drainAll();
      hooksAbort.abort();
      await witness?.close();
      await control2.close();
      await link.close();
      await replicas.close();
      log.info('agent stopped');
      resolveStopped();
    })();
    return stopping;
  };
  // A drain an earlier run of this agent did not finish goes on (or is reported) once the peer is heard.
  void maintenance.resumeInterrupted(() => stopping !== null);
  return { stopped, stop, controlAddress: control2.address, peerPort: listening.port };
}

async function readFileText(path: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return readFile(path, 'utf8');
}
