import type { ZodType } from 'zod';

// The one registry of what each command prints under --json: command path -> its zod output schema.
// docs/schema/output/<command>.schema.json is generated from it (scripts/generate-output-schema.ts)
// and test/cli/json-contract*.test.ts fails when a command exists without an entry here, or when the
// committed schemas are stale.
//
// WHY every entry is a function that require()s its schema: the CLI never imports this file, and a
// caller that does (the generator, the tests) loads only the schemas it asks for. Importing the
// command files at the top would pull zod, the engine and the drivers into whatever imports this.
//
// Adding a command: add one line below, then `npx ts-node -T scripts/generate-output-schema.ts`.

type Load = () => ZodType;

export interface OutputSchemaEntry {
  /** The command as typed, subcommands separated by one space ("lab create"). */
  command: string;
  /** The success document's schema (the error document is the same for every command: ErrorDocument). */
  schema: Load;
}

const documents = (): typeof import('../agent/control/documents') => require('../agent/control/documents') as typeof import('../agent/control/documents');
const lab = (): typeof import('../lab/schema') => require('../lab/schema') as typeof import('../lab/schema');
const tasks = (): typeof import('../hypervisor/hyperv/task-scheduler') => require('../hypervisor/hyperv/task-scheduler') as typeof import('../hypervisor/hyperv/task-scheduler');
const witness = (): typeof import('./commands/witness') => require('./commands/witness') as typeof import('./commands/witness');

export const outputSchemas: readonly OutputSchemaEntry[] = [
  { command: 'replicate', schema: () => (require('./commands/replicate') as typeof import('./commands/replicate')).ReplicateOutput },
  { command: 'verify', schema: () => (require('./commands/verify') as typeof import('./commands/verify')).VerifyOutput },
  { command: 'replica reset', schema: () => (require('./commands/replica') as typeof import('./commands/replica')).ReplicaResetOutput },
  { command: 'init', schema: () => (require('./commands/init') as typeof import('./commands/init')).InitOutput },
  { command: 'config validate', schema: () => (require('./commands/config') as typeof import('./commands/config')).ConfigValidateOutput },
  { command: 'agent', schema: () => (require('./commands/agent') as typeof import('./commands/agent')).AgentOutput },
  { command: 'guard', schema: () => (require('./commands/guard') as typeof import('./commands/guard')).GuardOutput },
  { command: 'status', schema: () => documents().StatusDocument },
  { command: 'sync', schema: () => documents().SyncReport },
  { command: 'failover', schema: () => documents().SwitchoverDocument },
  { command: 'failback', schema: () => documents().SwitchoverDocument },
  { command: 'drain', schema: () => (require('../agent/control/maintenance-documents') as typeof import('../agent/control/maintenance-documents')).DrainDocument },
  { command: 'resume', schema: () => (require('../agent/control/maintenance-documents') as typeof import('../agent/control/maintenance-documents')).DrainDocument },
  { command: 'selftest hyperv', schema: () => (require('../hypervisor/hyperv/selftest') as typeof import('../hypervisor/hyperv/selftest')).SelftestReport },
  { command: 'witness init', schema: () => witness().WitnessInitOutput },
  { command: 'witness run', schema: () => witness().WitnessRunOutput },
  { command: 'lab create', schema: () => lab().LabFile },
  { command: 'lab start', schema: () => lab().LabActionOutput },
  { command: 'lab stop', schema: () => lab().LabActionOutput },
  { command: 'lab crash', schema: () => lab().LabActionOutput },
  { command: 'lab verify', schema: () => lab().LabVerifyOutput },
  { command: 'balance', schema: () => (require('./commands/balance') as typeof import('./commands/balance')).BalanceDocument },
  { command: 'install-task', schema: () => tasks().InstallTaskOutput },
  { command: 'uninstall-task', schema: () => tasks().UninstallTaskOutput },
  { command: 'demo', schema: () => (require('../demo/schema') as typeof import('../demo/schema')).DemoReport },
];

/** The error document every command prints under --json when it fails. */
export const errorSchema: Load = () => (require('./output') as typeof import('./output')).ErrorDocument;

/** docs/schema/output/<this>: "lab create" -> "lab-create.schema.json". */
export function outputSchemaFileName(command: string): string {
  return `${command.replace(/ /g, '-')}.schema.json`;
}

/** Every output schema as JSON Schema text, keyed by file name (error.schema.json included). */
export function outputJsonSchemas(): Record<string, string> {
  const { z } = require('zod') as typeof import('zod');
  const toText = (name: string, schema: ZodType, title: string): string => {
    // io 'output': the schema of what is printed (after defaults and transforms), not of what is accepted.
    const json = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any', target: 'draft-2020-12' });
    return `${JSON.stringify({ ...json, $id: `https://vmmirror.invalid/schema/output/${name}`, title }, null, 2)}\n`;
  };
  const out: Record<string, string> = {};
  for (const e of outputSchemas) {
    const name = outputSchemaFileName(e.command);
    out[name] = toText(name, e.schema(), `vmmirror ${e.command} --json`);
  }
  out['error.schema.json'] = toText('error.schema.json', errorSchema(), 'vmmirror <any command> --json, on error');
  return out;
}
