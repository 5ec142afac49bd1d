import type { PwshValue, PwshVerdict } from './json-contract-pwsh';

// What PowerShell made of a document, judged against the document's JSON Schema: each value's .NET
// type must be the one its schema promises (a date-time string -> [datetime], an integer -> a whole
// number type, an array -> object[] even with one element, an object -> PSCustomObject), dates must
// keep their instant, and property names must be PascalCase and exactly the JSON's own, in order.

type Node = Record<string, unknown>;
/** What Get-ValueKind (json-contract-pwsh.ts) reports. */
type Kind = 'string' | 'date' | 'integer' | 'number' | 'boolean' | 'null' | 'array' | 'object';

function resolve(node: Node, root: Node): Node {
  const ref = node.$ref;
  if (typeof ref !== 'string') return node;
  if (ref === '#') return root;
  const path = ref.replace(/^#\//, '').split('/');
  let at: unknown = root;
  for (const p of path) at = (at as Node)[p];
  if (at === undefined) throw new Error(`unresolved $ref ${ref}`);
  return resolve(at as Node, root);
}

/** The alternatives a value may match (anyOf/oneOf flattened; $ref followed). */
function branches(node: Node, root: Node): Node[] {
  const n = resolve(node, root);
  const alts = (n.anyOf ?? n.oneOf) as Node[] | undefined;
  return alts ? alts.flatMap((a) => branches(a, root)) : [n];
}

function typeOfValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'number' ? (Number.isInteger(v) ? 'integer' : 'number') : typeof v;
}

/** The PowerShell kinds the schema allows here, or 'any' for an open schema ({}). */
function allowedKinds(node: Node, root: Node): Set<Kind> | 'any' {
  const kinds = new Set<Kind>();
  for (const b of branches(node, root)) {
    let types: string[];
    if (b.const !== undefined) types = [typeOfValue(b.const)];
    else if (Array.isArray(b.enum)) types = b.enum.map(typeOfValue);
    else if (b.type === undefined) return 'any';
    else types = Array.isArray(b.type) ? (b.type as string[]) : [b.type as string];
    for (const t of types) {
      // 'x-powershell-type': a string that is a local time (no offset), which PowerShell also reads as [datetime].
      if (t === 'string') kinds.add(b.format === 'date-time' || b['x-powershell-type'] === 'datetime' ? 'date' : 'string');
      else if (t === 'number') kinds.add('number').add('integer');
      else kinds.add(t as Kind);
    }
  }
  return kinds;
}

/** The schema of a property or an array element, from the branches that describe objects or arrays. */
function childSchema(node: Node, root: Node, segment: string | number): Node | undefined {
  // Below an open schema ({}: e.g. an error's Details) anything goes.
  if (allowedKinds(node, root) === 'any') return {};
  for (const b of branches(node, root)) {
    if (typeof segment === 'number') {
      const prefix = b.prefixItems as Node[] | undefined;
      if (prefix?.[segment]) return prefix[segment];
      if (b.items && typeof b.items === 'object') return b.items as Node;
      continue;
    }
    const props = b.properties as Record<string, Node> | undefined;
    if (props?.[segment]) return props[segment];
    if (b.additionalProperties && typeof b.additionalProperties === 'object') return b.additionalProperties as Node;
  }
  return undefined;
}

/** "$.Hosts[0].Name" -> ['Hosts', 0, 'Name']. */
function segments(path: string): Array<string | number> {
  const out: Array<string | number> = [];
  for (const m of path.slice(1).matchAll(/\.([^.[]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  return out;
}

function valueAt(doc: unknown, path: Array<string | number>): unknown {
  let at = doc;
  for (const s of path) at = (at as Record<string | number, unknown>)[s];
  return at;
}

const PASCAL = /^[A-Z][A-Za-z0-9]*$/;

/** Every way PowerShell's reading of `text` breaks the contract (empty: none). */
export function contractProblems(verdict: PwshVerdict, text: string, schema: Node): string[] {
  const problems: string[] = [];
  if (verdict.ParseError !== null) return [`ConvertFrom-Json failed: ${verdict.ParseError}`];
  if (!verdict.Valid) problems.push(`Test-Json: ${verdict.SchemaErrors.join('; ')}`);
  const doc = JSON.parse(text) as unknown;
  for (const v of verdict.Values) problems.push(...valueProblems(v, doc, schema));
  return problems;
}

function valueProblems(v: PwshValue, doc: unknown, schema: Node): string[] {
  const path = segments(v.Path);
  let node: Node | undefined = schema;
  for (const s of path) node = node === undefined ? undefined : childSchema(node, schema, s);
  if (node === undefined) return [`${v.Path}: no schema describes it`];
  const allowed = allowedKinds(node, schema);
  const out: string[] = [];
  if (allowed !== 'any' && !allowed.has(v.Kind as Kind)) out.push(`${v.Path}: PowerShell gives ${v.Kind}, the schema says ${[...allowed].join('|')}`);
  const json = valueAt(doc, path);
  if (v.Kind === 'date' && Date.parse(String(json)) !== Date.parse(v.Utc!)) out.push(`${v.Path}: [datetime] ${v.Utc} is not the instant ${String(json)}`);
  if (v.Kind === 'array' && (!Array.isArray(json) || json.length !== v.Count)) out.push(`${v.Path}: array of ${v.Count} in PowerShell, ${JSON.stringify(json)} in JSON`);
  if (v.Kind === 'object') {
    const keys = Object.keys(json as object);
    if (JSON.stringify(keys) !== JSON.stringify(v.Names)) out.push(`${v.Path}: PowerShell sees properties ${JSON.stringify(v.Names)}, JSON has ${JSON.stringify(keys)}`);
    for (const k of keys.filter((k) => !PASCAL.test(k))) out.push(`${v.Path}.${k}: not PascalCase`);
  }
  return out;
}
