import { createReadStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

// A streaming JSON tokenizer: reads a file in 64 KiB pieces and hands out its tokens a piece at a
// time, so a document of any size is parsed in memory bounded by the piece plus one token. Used
// for the changed-ranges file, which may list a million ranges (JSON.parse of it needs the whole
// text and every object at once).

export type JsonToken =
  | { t: 'punct'; v: '[' | ']' | '{' | '}' | ':' | ',' }
  | { t: 'string'; v: string }
  | { t: 'number'; v: number }
  | { t: 'literal'; v: true | false | null };

/** No single token (a path, say) may be longer than this; a longer one is refused, not buffered. */
export const MAX_TOKEN_CHARS = 1 << 16;

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const NUMBER_CHARS = '-+.eE0123456789';
const LITERALS: Array<[string, true | false | null]> = [
  ['true', true],
  ['false', false],
  ['null', null],
];

export class JsonSyntaxError extends Error {}

/** Splits `text` (leftover + new piece) into tokens; returns the unfinished tail to prepend to the next piece. */
function tokenize(text: string, final: boolean, out: JsonToken[]): string {
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      i++;
      continue;
    }
    const ch = text[i]!;
    if (ch === '[' || ch === ']' || ch === '{' || ch === '}' || ch === ':' || ch === ',') {
      out.push({ t: 'punct', v: ch });
      i++;
      continue;
    }
    if (ch === '"') {
      let j = i + 1;
      while (j < n && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (j >= n) {
        if (final) throw new JsonSyntaxError('the file ends inside a string');
        return tail(text, i);
      }
      try {
        out.push({ t: 'string', v: JSON.parse(text.slice(i, j + 1)) as string });
      } catch {
        throw new JsonSyntaxError(`bad string ${text.slice(i, Math.min(j + 1, i + 40))}`);
      }
      i = j + 1;
      continue;
    }
    if (ch === '-' || (c >= 0x30 && c <= 0x39)) {
      let run = i;
      while (run < n && NUMBER_CHARS.includes(text[run]!)) run++;
      if (run >= n && !final) return tail(text, i); // the number may go on in the next piece
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      const end = run;
      if (m === null || i + m[0].length !== run) throw new JsonSyntaxError(`bad number '${text.slice(i, Math.min(run, i + 30))}'`);
      out.push({ t: 'number', v: Number(m[0]) });
      i = end;
      continue;
    }
    const lit = LITERALS.find(([word]) => text.startsWith(word, i));
    if (lit !== undefined) {
      out.push({ t: 'literal', v: lit[1] });
      i += lit[0].length;
      continue;
    }
    if (!final && LITERALS.some(([word]) => word.startsWith(text.slice(i)))) return tail(text, i);
    throw new JsonSyntaxError(`unexpected '${text.slice(i, i + 20)}'`);
  }
  return '';
}

function tail(text: string, from: number): string {
  if (text.length - from > MAX_TOKEN_CHARS) throw new JsonSyntaxError(`a token longer than ${MAX_TOKEN_CHARS} characters`);
  return text.slice(from);
}

/** The tokens of a JSON file, a batch per piece read (never the whole file at once). */
export async function* jsonTokenBatches(path: string): AsyncGenerator<JsonToken[], void> {
  const decoder = new StringDecoder('utf8');
  let leftover = '';
  let first = true;
  for await (const piece of createReadStream(path, { highWaterMark: 1 << 16 })) {
    const out: JsonToken[] = [];
    let text = decoder.write(piece as Buffer);
    if (first) {
      // Windows PowerShell 5.1 writes UTF-8 with a byte order mark (Set-Content -Encoding UTF8),
      // and UTF-16 by default (Out-File, >): the first is JSON all the same, the second is named.
      const b = piece as Buffer;
      if (b.length >= 2 && ((b[0] === 0xff && b[1] === 0xfe) || (b[0] === 0xfe && b[1] === 0xff))) {
        throw new JsonSyntaxError('the file is UTF-16 (what Windows PowerShell 5.1 Out-File and > write); save it as UTF-8, e.g. Set-Content -Encoding UTF8');
      }
      text = text.replace(/^\uFEFF/, '');
      first = false;
    }
    leftover = tokenize(leftover + text, false, out);
    yield out;
  }
  const out: JsonToken[] = [];
  tokenize(leftover + decoder.end(), true, out);
  yield out;
}
