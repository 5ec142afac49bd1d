import type { DemoReport } from './schema';

// The readable end of `vmmirror demo` (stdout without --json): per VM the figures that matter to
// an administrator, then the verdict and which judges gave it.

function ms(v: number | null): string {
  return v === null ? '-' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v} ms`;
}

function mib(v: number | null): string {
  return v === null ? '-' : `${(v / 1024 / 1024).toFixed(2)} MiB`;
}

export function demoText(r: DemoReport): string {
  const lines = [
    `vmmirror demo: ${r.Ok ? 'ok' : `${r.Problems.length} problem(s)`} in ${(r.DurationMs / 1000).toFixed(1)} s (seed ${r.Seed})`,
    `  ${r.Settings.Vms} VMs, ${mib(r.Settings.DiskBytes)} disks, heartbeat ${r.Settings.HeartbeatIntervalMs} ms, peer lost after ${r.Settings.PeerLossTimeoutMs} ms, replication every ${r.Settings.ReplicationIntervalSeconds} s`,
    `  balance: ${r.Balance.Moves.length === 0 ? 'already balanced' : r.Balance.Moves.map((m) => `${m.Module} ${m.From} -> ${m.To}`).join(', ')} (loads ${r.Balance.Hosts.map((h) => `${h.Name} ${h.LoadBefore} -> ${h.LoadAfter}`).join(', ')})`,
    `  killed ${r.KilledHost}; survivor ${r.Survivor}`,
    '',
    `  ${'vm'.padEnd(6)}${'home'.padEnd(6)}${'kill->running'.padEnd(15)}${'writes lost'.padEnd(20)}${'resync / disk'.padEnd(22)}${'failback'.padEnd(10)}${'planned move'.padEnd(40)}verified`,
  ];
  for (const v of r.Vms) {
    const lost = v.WritesLost === null ? '-' : `${v.WritesLost}${v.WritesLostSeconds !== null ? ` (${v.WritesLostSeconds.toFixed(1)} s)` : ''}`;
    const resync = v.ResyncBytes === null ? '-' : `${mib(v.ResyncBytes)} / ${mib(v.ResyncDiskBytes)}`;
    const move = v.PlannedFailover === null ? '-' : `${v.PlannedFailover.From}->${v.PlannedFailover.To} ${ms(v.PlannedFailover.DowntimeMs)}, ${v.PlannedFailover.WritesLost} lost, back ${ms(v.PlannedFailover.BackHomeDowntimeMs)}`;
    const verified = `${v.Verification.Equal ? 'equal' : 'NOT EQUAL'} (pattern ${v.Verification.PatternEqual ? 'equal' : 'differs'}, qemu-img ${v.Verification.QemuImgCompare})`;
    lines.push(`  ${v.Module.padEnd(6)}${v.DefaultPrimary.padEnd(6)}${ms(v.KillToRunningMs).padEnd(15)}${lost.padEnd(20)}${resync.padEnd(22)}${ms(v.FailbackDowntimeMs).padEnd(10)}${move.padEnd(40)}${verified}`);
  }
  lines.push('', `  judged by: ${r.JudgedBy.join(' and ')}`);
  lines.push(r.Kept ? `  lab kept in ${r.Directory} (vmmirror lab start ${r.Directory} to run it again)` : '  the lab and its folder were removed');
  for (const p of r.Problems) lines.push(`problem: ${p}`);
  return lines.join('\n');
}
