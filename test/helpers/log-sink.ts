import pino, { type Logger } from 'pino';
import { Writable } from 'node:stream';

/** One parsed pino line. */
export type LogLine = Record<string, unknown> & { level: number; msg?: string };

// A pino logger whose lines are parsed into an array, so tests assert on fields, never on text.
export function logSink(level: pino.Level = 'debug'): { logger: Logger; lines: LogLine[]; find: (match: Record<string, unknown>) => LogLine[] } {
  const lines: LogLine[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const text of chunk.toString('utf8').split('\n')) if (text.trim()) lines.push(JSON.parse(text) as LogLine);
      cb();
    },
  });
  const logger = pino({ level }, dest);
  const find = (match: Record<string, unknown>): LogLine[] =>
    lines.filter((l) => Object.entries(match).every(([k, v]) => l[k] === v));
  return { logger, lines, find };
}
