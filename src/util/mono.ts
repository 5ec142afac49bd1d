// The host's monotonic clock in milliseconds, the same in every process of the host (CLOCK_MONOTONIC
// on Linux, QueryPerformanceCounter on Windows), so the agent and its guard can share a deadline.
// Never compared with another machine's (DESIGN C4).

export function monoNow(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}
