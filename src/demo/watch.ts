import { open } from 'node:fs/promises';
import type { StatusDocument } from '../agent/control/documents';
import type { LabHostName } from '../lab/schema';

// What the demo sees of the cluster, the way an operator would: each agent's `vmmirror status`
// (its control API) and the structured events each agent writes to its log (one JSON line each).

/** One agent event the demo shows and measures by (src/agent: module-state, vm-started, resync-*, failback-done, ...). */
export interface AgentEvent {
  host: LabHostName;
  /** The agent's own clock (pino `time`, ms since the epoch): the hosts of a lab share this machine's clock. */
  at: number;
  event: string;
  module: string | null;
  fields: Record<string, unknown>;
  msg: string;
}

// The events worth a line on the demo's terminal (the rest of the log stays in the lab's logs/).
const SHOWN = new Set(['module-state', 'vm-started', 'fenced', 'resync-start', 'resync-done', 'failback-done', 'handed-over', 'switchover-asked', 'replica-registered', 'vm-observed']);

/** Reads an agent log from where it was last read: only whole lines, so a line being written is read next time. */
export class LogTail {
  private offset = 0;
  private rest = '';

  constructor(
    private readonly host: LabHostName,
    private readonly path: string,
  ) {}

  async read(): Promise<AgentEvent[]> {
    const fh = await open(this.path, 'r').catch(() => null);
    if (fh === null) return [];
    const out: AgentEvent[] = [];
    try {
      const size = (await fh.stat()).size;
      // Bounded reads: a log that grew a lot since the last poll is read in 1 MiB steps.
      while (this.offset < size) {
        const n = Math.min(size - this.offset, 1024 * 1024);
        const buf = Buffer.alloc(n);
        const { bytesRead } = await fh.read(buf, 0, n, this.offset);
        if (bytesRead === 0) break;
        this.offset += bytesRead;
        const lines = (this.rest + buf.subarray(0, bytesRead).toString('utf8')).split('\n');
        this.rest = lines.pop() ?? '';
        for (const line of lines) {
          const e = parseEvent(this.host, line);
          if (e !== null) out.push(e);
        }
      }
    } finally {
      await fh.close();
    }
    return out;
  }
}

function parseEvent(host: LabHostName, line: string): AgentEvent | null {
  if (!line.startsWith('{')) return null;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (typeof o.event !== 'string' || !SHOWN.has(o.event) || typeof o.time !== 'number') return null;
  return { host, at: o.time, event: o.event, module: typeof o.module === 'string' ? o.module : null, fields: o, msg: typeof o.msg === 'string' ? o.msg : '' };
}

/** Each host's last status, null while its agent does not answer (crashed, not started yet). */
export type StatusPair = Record<LabHostName, StatusDocument | null>;

/** Both agents' status, asked in parallel; a host that does not answer within 2 s is null. */
export async function readStatuses(configDirs: Record<LabHostName, string>): Promise<StatusPair> {
  const { callAgent } = require('../agent/control/client') as typeof import('../agent/control/client');
  const { controlEndpoint } = require('../agent/control/endpoint') as typeof import('../agent/control/endpoint');
  const one = async (h: LabHostName): Promise<StatusDocument | null> => {
    try {
      return (await callAgent({ ...(await controlEndpoint(configDirs[h])), timeoutMs: 2000 }, 'GET', '/v1/status')) as StatusDocument;
    } catch {
      return null;
    }
  };
  const [hva, hvb] = await Promise.all([one('hva'), one('hvb')]);
  return { hva, hvb };
}

export function moduleOn(s: StatusDocument | null, module: string): StatusDocument['Modules'][number] | null {
  return s?.Modules.find((m) => m.Name === module) ?? null;
}
