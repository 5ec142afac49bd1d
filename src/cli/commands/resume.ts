import type { CommandOutcome } from '../command';
import { runMaintenance, type MaintenanceCliOptions } from './drain';

// `vmmirror resume <host>`: ends the host's maintenance (the same document as vmmirror drain, with no modules).
export function runResume(host: string, opts: MaintenanceCliOptions): Promise<CommandOutcome> {
  return runMaintenance('resume', host, { ...opts, whatIf: false });
}
