import { CronJob } from 'cron';
import type { Interval } from '../config';

// Turns a module's Replication.Interval into a running timer (cron package for both forms).

export interface Schedule {
  stop(): void;
  /** When the next tick is due (null when stopped). */
  nextAt(): Date | null;
}

/** The cron expression for an interval: strings pass through; seconds become a 6-field expression when cron can say it. */
export function cronExpressionFor(interval: Interval): string | null {
  if (typeof interval === 'string') return interval;
  if (interval < 60 && 60 % interval === 0) return `*/${interval} * * * * *`;
  if (interval % 60 === 0) {
    const minutes = interval / 60;
    if (minutes < 60 && 60 % minutes === 0) return `0 */${minutes} * * * *`;
    if (minutes % 60 === 0 && 24 % (minutes / 60) === 0) return `0 0 */${minutes / 60} * * *`;
  }
  return null;
}

/** Calls `tick` on the interval; a tick never waits for the previous one (the caller skips overlaps). */
export function startSchedule(interval: Interval, tick: () => void): Schedule {
  const expr = cronExpressionFor(interval);
  if (expr !== null) {
    const job = CronJob.from({ cronTime: expr, onTick: tick, start: true, unrefTimeout: false });
    return {
      stop: () => void job.stop(),
      nextAt: () => (job.isActive ? job.nextDate().toJSDate() : null),
    };
  }
  // Seconds that no cron step expresses exactly (e.g. 45 s): a plain repeating timer.
  const ms = (interval as number) * 1000;
  let next = Date.now() + ms;
  const timer = setInterval(() => {
    next = Date.now() + ms;
    tick();
  }, ms);
  let stopped = false;
  return {
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
    nextAt: () => (stopped ? null : new Date(next)),
  };
}
