import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** JSON-line events from a harness child, with a way to wait for one. */
export interface EventLog {
  events: Array<Record<string, unknown>>;
  waitFor: (match: (e: Record<string, unknown>) => boolean, timeoutMs: number, what: string) => Promise<Record<string, unknown>>;
}

export function followEvents(child: ChildProcess, label: string): EventLog {
  const events: Array<Record<string, unknown>> = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      events.push({ event: 'noise', line });
    }
    for (const w of waiters) w();
  });
  const waitFor = (match: (e: Record<string, unknown>) => boolean, timeoutMs: number, what: string): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = events.find(match);
        if (!hit) return false;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(hit);
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`${label}: no ${what} within ${timeoutMs} ms; events: ${JSON.stringify(events.slice(-8))}; stderr: ${stderr}`));
      }, timeoutMs);
      if (!check()) waiters.add(check);
    });
  return { events, waitFor };
}
