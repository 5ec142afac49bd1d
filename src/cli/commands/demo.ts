import { UsageError } from '../../errors';
import { DemoReport } from '../../demo/schema';
import type { CommandOutcome } from '../command';
import { errorDocument } from '../error-document';
import { emit } from '../output';

// `vmmirror demo` (definitions/demo.ts declares it; docs/demo.md). The live view goes to stderr;
// stdout gets the report: text, or with --json exactly one document (also when interrupted: the
// CANCELLED error document, printed after the cleanup).

export interface DemoCliOptions {
  vms?: string;
  keep?: boolean;
  seed?: string;
}

function whole(option: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v.trim())) throw new UsageError(`${option} must be a whole number, got ${JSON.stringify(v)}`);
  return Number(v);
}

export async function runDemoCommand(opts: DemoCliOptions): Promise<CommandOutcome> {
  const { runDemo } = require('../../demo/run') as typeof import('../../demo/run');
  const { demoText } = require('../../demo/report') as typeof import('../../demo/report');
  const { VmmirrorError } = require('../../errors') as typeof import('../../errors');
  const wantsJson = process.argv.includes('--json');
  const seed = whole('--seed', opts.seed);
  if (seed !== undefined && seed > 0xffffffff) throw new UsageError(`--seed must be at most 4294967295, got ${seed}`);
  const report = await runDemo({
    vms: whole('--vms', opts.vms),
    keep: opts.keep === true,
    ...(seed !== undefined ? { seed } : {}),
    onSignal: (signal) => {
      const err = new VmmirrorError('CANCELLED', `vmmirror demo interrupted by ${signal}; its processes were stopped and its folder removed`);
      if (wantsJson) process.stdout.write(`${JSON.stringify(errorDocument(err))}\n`);
    },
  });
  const json = emit(DemoReport, report);
  return { json, text: demoText(json), exitCode: json.Ok ? 0 : 1 };
}
