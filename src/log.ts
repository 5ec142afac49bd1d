import pino, { type Logger } from 'pino';

// One root logger on stderr (fd 2): stdout belongs to the --json contract. Synchronous, so the
// last lines before a crash or a fence reach the disk. Layers take child loggers.
export type { Logger };

function createRoot(): Logger {
  const level = process.env.VMMIRROR_LOG_LEVEL ?? 'warn';
  const file = process.env.VMMIRROR_LOG_FILE;
  const dest = file ? pino.destination({ dest: file, sync: true, mkdir: true }) : pino.destination({ dest: 2, sync: true });
  return pino({ level, base: { pid: process.pid }, redact: ['token', '*.token', '*.privateKey', 'privateKey'] }, dest);
}

export const rootLogger: Logger = createRoot();

/** A child logger for one layer; bindings are serialized once. */
export function componentLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger.child({ component, ...bindings });
}
