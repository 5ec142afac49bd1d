import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileDurable } from '../../replication/util/durable-file';

// Flap damping (WSFC's failover threshold, Pacemaker's migration-threshold): every time this host
// comes back and is resynchronised, the instant is recorded (wall time: only compared with this
// host's own later readings). A host that came back more than MaxReturns times in the window gets
// no automatic failback: it keeps the replica until it stays up, or an operator moves the VM.

const ReturnsFile = z.object({ Version: z.literal(1), Returns: z.array(z.string().datetime()).max(1000) }).strict();
const KEEP = 200;

function path(dir: string): string {
  return join(dir, 'returns.json');
}

async function read(dir: string): Promise<string[]> {
  try {
    const r = ReturnsFile.safeParse(JSON.parse(await readFile(path(dir), 'utf8')));
    // A damaged file only loses the damping history: the safe reading is "came back often".
    return r.success ? r.data.Returns : Array.from({ length: KEEP }, () => new Date().toISOString());
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    return Array.from({ length: KEEP }, () => new Date().toISOString());
  }
}

// Several modules' resyncs start together: one write at a time (they share one temp file name).
let chain: Promise<void> = Promise.resolve();

/** Records a return; several modules resynchronised within a minute are one return of the host. */
export function recordReturn(dir: string, at = new Date()): Promise<void> {
  const next = chain.then(() => writeReturn(dir, at));
  chain = next.catch(() => undefined);
  return next;
}

async function writeReturn(dir: string, at: Date): Promise<void> {
  const before = await read(dir);
  const last = before.length > 0 ? Date.parse(before[before.length - 1]!) : -Infinity;
  if (at.getTime() - last < 60_000) return;
  const list = [...before, at.toISOString()].slice(-KEEP);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileDurable(path(dir), `${JSON.stringify({ Version: 1, Returns: list })}\n`);
}

/** Returns recorded within the last `windowMinutes`. */
export async function returnsWithin(dir: string, windowMinutes: number, now = new Date()): Promise<number> {
  const from = now.getTime() - windowMinutes * 60_000;
  return (await read(dir)).filter((t) => Date.parse(t) >= from).length;
}
