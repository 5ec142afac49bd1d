// Small shared pieces of the fault and adversarial tests: seeded bytes, and how a promise ended.

/** `n` bytes from a seeded generator (test/helpers/seed.ts). */
export function seededBytes(rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

/** How `p` failed: its code and message; a code saying it succeeded when it did. */
export async function failure(p: Promise<unknown>): Promise<{ code: string | undefined; message: string }> {
  try {
    await p;
  } catch (err) {
    return { code: (err as { code?: string }).code, message: (err as Error).message };
  }
  return { code: 'none (it succeeded)', message: '' };
}

/** The code `p` failed with (its message when it has none); undefined when it succeeded. */
export async function errorCode(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code ?? (err as Error).message;
  }
  return undefined;
}

/** A folder snapshot (snapshotTree) without the lock file, which a run creates and removes. */
export const withoutLock = (m: Map<string, string>): Array<[string, string]> => [...m.entries()].filter(([k]) => !k.endsWith('lock'));
