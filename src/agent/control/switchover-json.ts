import type { SwitchoverOutcome } from '../cluster/operator-switchover';
import type { SwitchoverFigures as Figures } from '../cluster/switchover';
import type { ModuleStatus, StatusDocument, SwitchoverDocument, SwitchoverFigures } from './documents';

// The PascalCase documents of a planned switchover (docs/output.md) from the agent's figures.

function figuresJson(f: NonNullable<SwitchoverOutcome['figures']>): SwitchoverFigures {
  return {
    Epoch: f.epoch,
    FromGeneration: f.fromGeneration,
    ToGeneration: f.toGeneration,
    FinalDeltaBytes: f.finalBytes,
    StopMs: Math.round(f.stopMs),
    FinalSyncMs: Math.round(f.syncMs),
    StartMs: Math.round(f.startMs),
    DowntimeMs: Math.round(f.downtimeMs),
    FinishedAt: f.finishedAt,
  };
}

export function switchoverJson(o: SwitchoverOutcome): SwitchoverDocument {
  return {
    Module: o.module,
    VmName: o.vmName,
    Action: o.action,
    WhatIf: o.whatIf,
    From: o.from,
    To: o.to,
    Epoch: o.epoch,
    Checks: o.checks.map((c) => ({ Name: c.name, Passed: c.passed, Detail: c.detail })),
    Result: o.figures === null ? null : figuresJson(o.figures),
  };
}

/** The status field of a module's last switchover (null: none since the agent started). */
export function lastSwitchoverJson(f: Figures | undefined): ModuleStatus['LastSwitchover'] {
  if (f === undefined) return null;
  const wire = { epoch: f.epoch, fromGeneration: f.fromGeneration, toGeneration: f.generation, finalBytes: f.finalBytes, stopMs: f.stopMs, syncMs: f.syncMs, startMs: f.startMs, downtimeMs: f.downtimeMs, finishedAt: f.at.toISOString() };
  return { ...figuresJson(wire), From: f.from, To: f.to };
}

/** The status document with each module's last switchover (status.ts builds the rest). */
export function withLastSwitchover(doc: StatusDocument, last: Map<string, Figures>): StatusDocument {
  return { ...doc, Modules: doc.Modules.map((m) => ({ ...m, LastSwitchover: lastSwitchoverJson(last.get(m.Name)) })) };
}
