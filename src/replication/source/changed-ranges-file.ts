import { stat } from 'node:fs/promises';
import { UsageError } from '../../errors';
import { JsonSyntaxError, jsonTokenBatches, type JsonToken } from './json-tokens';

// The --changed-ranges file: JSON [{ "Path": "...", "Ranges": [{ "Offset": n, "Length": n }, ...] }]
// (what Hyper-V change tracking reports, one entry per source; the zod schema ChangedRangesFile in
// src/cli/parse.ts describes the same shape). It may hold millions of ranges, so it is parsed as a
// stream, twice: once to validate it and learn which entry names which path, then once per source,
// yielding that source's ranges lazily. Keys may come in any order; no other keys are allowed.

export interface ChangedRange {
  offset: number;
  length: number;
}

type Event = { kind: 'range'; entry: number; offset: number; length: number } | { kind: 'entry'; entry: number; path: string };

type State =
  | 'top' | 'entryOrEnd' | 'entry' | 'afterEntry' | 'keyOrEnd' | 'key' | 'colon' | 'afterValue'
  | 'path' | 'rangesOpen' | 'rangeOrEnd' | 'range' | 'afterRange' | 'rKeyOrEnd' | 'rKey' | 'rColon' | 'rValue' | 'rAfterValue' | 'done';

/** Turns tokens into entry and range events, checking the shape as it goes. */
class ChangedRangesParser {
  private state: State = 'top';
  private entry = -1;
  private rangeIndex = -1;
  private key = '';
  private seen = new Set<string>();
  private path: string | undefined;
  private rKey = '';
  private rSeen: Record<string, number | undefined> = {};

  constructor(private readonly file: string) {}

  private fail(what: string): never {
    const inRange = ['rKeyOrEnd', 'rKey', 'rColon', 'rValue', 'rAfterValue'].includes(this.state);
    const where = this.entry < 0 ? '(root)' : inRange ? `${this.entry}.Ranges.${this.rangeIndex}` : `${this.entry}`;
    throw new UsageError(`--changed-ranges ${this.file}: ${where}: ${what}`);
  }

  feed(tok: JsonToken, out: Event[]): void {
    const p = tok.t === 'punct' ? tok.v : null;
    switch (this.state) {
      case 'top':
        if (p !== '[') this.fail('expected an array of {Path, Ranges}');
        this.state = 'entryOrEnd';
        return;
      case 'entryOrEnd':
      case 'entry':
        if (p === ']' && this.state === 'entryOrEnd') return void (this.state = 'done');
        if (p !== '{') this.fail('expected an object {Path, Ranges}');
        this.entry += 1;
        this.rangeIndex = -1;
        this.seen = new Set();
        this.path = undefined;
        this.state = 'keyOrEnd';
        return;
      case 'afterEntry':
        if (p === ',') return void (this.state = 'entry');
        if (p === ']') return void (this.state = 'done');
        return this.fail("expected ',' or ']'");
      case 'keyOrEnd':
      case 'key':
        if (p === '}' && this.state === 'keyOrEnd') return this.endEntry(out);
        if (tok.t !== 'string') this.fail('expected a property name');
        if (tok.v !== 'Path' && tok.v !== 'Ranges') this.fail(`unknown property '${tok.v.slice(0, 40)}' (only Path and Ranges)`);
        if (this.seen.has(tok.v)) this.fail(`${tok.v} appears twice`);
        this.seen.add(tok.v);
        this.key = tok.v;
        this.state = 'colon';
        return;
      case 'colon':
        if (p !== ':') this.fail("expected ':'");
        this.state = this.key === 'Path' ? 'path' : 'rangesOpen';
        return;
      case 'path':
        if (tok.t !== 'string' || tok.v.length === 0) this.fail('Path must be a non-empty string');
        this.path = tok.v;
        this.state = 'afterValue';
        return;
      case 'afterValue':
        if (p === ',') return void (this.state = 'key');
        if (p === '}') return this.endEntry(out);
        return this.fail("expected ',' or '}'");
      case 'rangesOpen':
        if (p !== '[') this.fail('Ranges must be an array');
        this.state = 'rangeOrEnd';
        return;
      case 'rangeOrEnd':
      case 'range':
        if (p === ']' && this.state === 'rangeOrEnd') return void (this.state = 'afterValue');
        if (p !== '{') this.fail('expected a range {Offset, Length}');
        this.rangeIndex += 1;
        this.rSeen = {};
        this.state = 'rKeyOrEnd';
        return;
      case 'afterRange':
        if (p === ',') return void (this.state = 'range');
        if (p === ']') return void (this.state = 'afterValue');
        return this.fail("expected ',' or ']'");
      case 'rKeyOrEnd':
      case 'rKey':
        if (p === '}' && this.state === 'rKeyOrEnd') return this.endRange(out);
        if (tok.t !== 'string') this.fail('expected Offset or Length');
        if (tok.v !== 'Offset' && tok.v !== 'Length') this.fail(`unknown property '${tok.v.slice(0, 40)}' (only Offset and Length)`);
        if (this.rSeen[tok.v] !== undefined) this.fail(`${tok.v} appears twice`);
        this.rKey = tok.v;
        this.state = 'rColon';
        return;
      case 'rColon':
        if (p !== ':') this.fail("expected ':'");
        this.state = 'rValue';
        return;
      case 'rValue':
        if (tok.t !== 'number' || !Number.isSafeInteger(tok.v) || tok.v < 0) this.fail(`${this.rKey} must be a whole number >= 0, got ${tok.t === 'number' ? tok.v : tok.t}`);
        this.rSeen[this.rKey] = tok.v;
        this.state = 'rAfterValue';
        return;
      case 'rAfterValue':
        if (p === ',') return void (this.state = 'rKey');
        if (p === '}') return this.endRange(out);
        return this.fail("expected ',' or '}'");
      case 'done':
        return this.fail('unexpected data after the end of the array');
    }
  }

  private endRange(out: Event[]): void {
    const { Offset, Length } = this.rSeen;
    if (Offset === undefined || Length === undefined) this.fail(`a range needs both Offset and Length`);
    out.push({ kind: 'range', entry: this.entry, offset: Offset, length: Length });
    this.state = 'afterRange';
  }

  private endEntry(out: Event[]): void {
    if (this.path === undefined) this.fail('Path is required');
    if (!this.seen.has('Ranges')) this.fail('Ranges is required');
    out.push({ kind: 'entry', entry: this.entry, path: this.path });
    this.state = 'afterEntry';
  }

  finish(): void {
    if (this.state !== 'done') this.fail('the file ends before the array does');
  }
}

// The file is read more than once (validated, then once per source): one rewritten in between (an
// exporter that regenerates it) could give a source the ranges of another disk or another time,
// and change tracking trusts them. So each pass checks that the file is still the validated one:
// same identity and timestamps before and after, and the same Path at every entry.
const validated = new Map<string, { stamp: string; paths: string[] }>();

async function stampOf(file: string): Promise<string> {
  const st = await stat(file, { bigint: true });
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

async function* events(file: string, onEnd?: (paths: string[], stampBefore: string) => Promise<void>): AsyncGenerator<Event[], void> {
  const parser = new ChangedRangesParser(file);
  try {
    const before = await stampOf(file);
    const paths: string[] = [];
    for await (const batch of jsonTokenBatches(file)) {
      const out: Event[] = [];
      for (const tok of batch) parser.feed(tok, out);
      for (const e of out) if (e.kind === 'entry') paths.push(e.path);
      yield out;
    }
    parser.finish();
    await onEnd?.(paths, before);
  } catch (err) {
    if (err instanceof JsonSyntaxError) throw new UsageError(`--changed-ranges ${file}: cannot read JSON (${err.message})`);
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--changed-ranges ${file}: cannot read JSON (${(err as Error).message})`);
  }
}

/** Validates the whole file (streaming) and returns the Path of each entry, in order. */
export async function changedRangesPaths(file: string): Promise<string[]> {
  let result: string[] = [];
  const remember = async (paths: string[], before: string): Promise<void> => {
    if ((await stampOf(file)) !== before) throw changedWhileRead(file);
    validated.set(file, { stamp: before, paths });
    result = paths;
  };
  for await (const batch of events(file, remember)) void batch;
  return result;
}

/**
 * The ranges of the given entries, read lazily from the file each time it is iterated. A pass over
 * a file that is no longer the one changedRangesPaths validated fails (USAGE) when it ends, before
 * the caller acts on its ranges (candidates are gathered whole before any block is read).
 */
export function changedRangesOf(file: string, entries: ReadonlySet<number>): AsyncIterable<ChangedRange> {
  return {
    async *[Symbol.asyncIterator]() {
      const check = async (paths: string[], before: string): Promise<void> => {
        const known = validated.get(file);
        const after = await stampOf(file);
        if (known === undefined) return;
        if (before !== known.stamp || after !== known.stamp || paths.length !== known.paths.length || paths.some((p, i) => p !== known.paths[i])) throw changedWhileRead(file);
      };
      for await (const batch of events(file, check)) {
        for (const e of batch) if (e.kind === 'range' && entries.has(e.entry)) yield { offset: e.offset, length: e.length };
      }
    },
  };
}

function changedWhileRead(file: string): UsageError {
  return new UsageError(`--changed-ranges ${file} changed while it was being read (rewritten since it was checked): nothing was sent; run again once it is complete`);
}
