import type { CommandOutcome } from '../command';
import { runSwitchover, type SwitchoverCliOptions } from './failover';

// `vmmirror failback <module>`: the planned switchover to the module's default primary (the same
// move as `vmmirror failover`, with the target fixed); the way home for `Failback: manual`.

export function runFailback(module: string, opts: SwitchoverCliOptions): Promise<CommandOutcome> {
  return runSwitchover('failback', module, opts);
}
