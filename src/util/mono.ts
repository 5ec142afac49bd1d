// The host's monotonic clock in milliseconds (fractional), the same in every process of the host
// (CLOCK_MONOTONIC on Linux, QueryPerformanceCounter on Windows), so the agent, its guard and the
// witness client share deadlines. Never compared with another machine's (DESIGN C4).

export function monoNow(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
