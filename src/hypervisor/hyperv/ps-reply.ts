// Turns a script's stdout into its validated Result or a typed HypervisorError.
// The contract (docs/ps-contract.md): exactly one line that is a JSON object with a boolean `Ok`.
import { z, type ZodType } from 'zod';
import { HypervisorError, type ErrorCode } from '../../errors';
import { componentLogger } from '../../log';

const log = componentLogger('ps-reply');

/** Codes a script may put in Error.Code; anything else becomes HYPERVISOR_ERROR. */
const scriptCodes = new Set<ErrorCode>([
  'VM_NOT_FOUND',
  'VM_AMBIGUOUS',
  'VM_WRONG_STATE',
  'VM_TIMEOUT',
  'VM_INCOMPATIBLE',
  'VM_ALREADY_REGISTERED',
  'VM_CONFIG_INVALID',
  'RCT_UNAVAILABLE',
  'HYPERVISOR_ERROR',
]);

const ScriptError = z.object({
  Code: z.string(),
  Message: z.string(),
  PlatformMessage: z.string().optional(),
  FullyQualifiedErrorId: z.string().optional(),
  Details: z.unknown().optional(),
});

const Envelope = z.union([
  z.object({ Ok: z.literal(true), Result: z.unknown() }),
  z.object({ Ok: z.literal(false), Error: ScriptError }),
]);

// Terminal control sequences pwsh may emit around a command (keypad mode, colours).
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;

function candidates(stdout: string): unknown[] {
  const found: unknown[] = [];
  for (const raw of stdout.split(/\r?\n/)) {
    const line = raw.replace(ANSI, '').trim();
    if (!line) continue;
    if (line.startsWith('{')) {
      try {
        const value: unknown = JSON.parse(line);
        if (value !== null && typeof value === 'object' && 'Ok' in value) {
          found.push(value);
          continue;
        }
      } catch {
        // not ours: logged below as stray output
      }
    }
    log.warn({ line: line.slice(0, 500) }, 'stray PowerShell output ignored');
  }
  return found;
}

/** Validates one script reply; throws PS_PROTOCOL for anything that is not exactly one valid reply. */
export function parseReply<T>(script: string, stdout: string, schema: ZodType<T>): T {
  const found = candidates(stdout);
  if (found.length !== 1) {
    throw new HypervisorError('PS_PROTOCOL', `${script} wrote ${found.length} reply objects, expected exactly one`, {
      details: { script, output: stdout.slice(0, 2000) },
    });
  }
  const envelope = Envelope.safeParse(found[0]);
  if (!envelope.success) {
    throw new HypervisorError('PS_PROTOCOL', `${script} wrote a malformed reply: ${envelope.error.message}`, { details: { script } });
  }
  const reply = envelope.data;
  if (reply.Ok) {
    const result = schema.safeParse(reply.Result);
    if (!result.success) {
      throw new HypervisorError('PS_PROTOCOL', `${script} returned an unexpected result: ${result.error.message}`, {
        details: { script, result: reply.Result },
      });
    }
    return result.data;
  }
  const e = reply.Error;
  const code: ErrorCode = scriptCodes.has(e.Code as ErrorCode) ? (e.Code as ErrorCode) : 'HYPERVISOR_ERROR';
  const details: Record<string, unknown> = { script, scriptCode: e.Code };
  if (code === 'HYPERVISOR_ERROR') details.platformMessage = e.PlatformMessage ?? e.Message;
  if (e.FullyQualifiedErrorId !== undefined) details.fullyQualifiedErrorId = e.FullyQualifiedErrorId;
  if (e.Details !== undefined) details.scriptDetails = e.Details;
  throw new HypervisorError(code, `${script}: ${e.Message}`, { details });
}
