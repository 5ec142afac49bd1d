import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../config/write';
import type { DiskReference } from '../hypervisor/types';

// RCT reference points tied to the replica generation they were committed for. They are only used
// when S still holds exactly that generation; otherwise the cycle scans (never "nothing changed").

export interface StoredReferences {
  generation: number;
  /** S's manifest digests at that generation: a replica replaced behind our back (same number, other content) is detected. */
  manifestDigests: Record<string, string>;
  references: DiskReference[];
}

function path(stateDir: string): string {
  return join(stateDir, 'references.json');
}

/** The stored references, or null when none (or unreadable: then the cycle scans). */
export async function readReferences(stateDir: string): Promise<StoredReferences | null> {
  try {
    const r = JSON.parse(await readFile(path(stateDir), 'utf8')) as StoredReferences;
    return Number.isInteger(r.generation) && Array.isArray(r.references) && typeof r.manifestDigests === 'object' && r.manifestDigests !== null ? r : null;
  } catch {
    return null;
  }
}

/** Records the references that belong to `generation` (after S acknowledged it). */
export async function writeReferences(stateDir: string, r: StoredReferences): Promise<void> {
  await writeFileAtomic(path(stateDir), `${JSON.stringify(r)}\n`);
}
