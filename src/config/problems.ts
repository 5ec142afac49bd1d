import type { z } from 'zod';

// One config problem, named by file and field, so a user can fix every mistake in one pass.

export interface ConfigProblem {
  /** File relative to the config directory, with forward slashes (`modules/web1.json`). */
  File: string;
  /** Field path (`Replication.Interval`, `Hosts[1].Port`); empty for the whole file. */
  Path: string;
  Message: string;
}

/** Renders a field path the way users write it: `Hosts[1].Port`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out.length === 0 ? String(p) : `.${String(p)}`;
  }
  return out;
}

/** Turns zod issues into problems with messages that read as sentences about the field. */
export function problemsFromZod(file: string, error: z.ZodError): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push({ File: file, Path: formatPath([...issue.path, key]), Message: 'is not a known field (a typo? field names are PascalCase)' });
      }
      continue;
    }
    let message = issue.message;
    if (issue.code === 'invalid_type' && /received undefined/.test(message)) message = 'is required';
    else if (issue.code === 'invalid_type') message = message.replace(/^Invalid input: /, 'must be of the right type: ');
    else if (issue.code === 'too_big' || issue.code === 'too_small') message = boundMessage(issue);
    else if (issue.code === 'invalid_value') message = message.replace(/^Invalid (option|input): /, 'must be one of: ').replace(/expected one of /, '');
    out.push({ File: file, Path: formatPath(issue.path), Message: message });
  }
  return out;
}

/** `modules/web1.json: Replication.Interval must be ...` */
export function formatProblem(p: ConfigProblem): string {
  if (p.Path.length === 0) return `${p.File}: ${p.Message}`;
  const sep = /^(must|is|are|names|duplicates|has|does)\b/.test(p.Message) ? ' ' : ': ';
  return `${p.File}: ${p.Path}${sep}${p.Message}`;
}

function boundMessage(issue: z.core.$ZodIssueTooBig | z.core.$ZodIssueTooSmall): string {
  const big = issue.code === 'too_big';
  const limit = big ? (issue as z.core.$ZodIssueTooBig).maximum : (issue as z.core.$ZodIssueTooSmall).minimum;
  const word = big ? 'at most' : 'at least';
  const strict = issue.inclusive === false ? (big ? 'less than' : 'more than') : word;
  if (issue.origin === 'array') return issue.message.startsWith('Too') ? `must have ${strict} ${String(limit)} item(s)` : issue.message;
  if (issue.origin === 'string') return `must be ${strict} ${String(limit)} character(s) long`;
  return issue.message.startsWith('Too') ? `must be ${strict} ${String(limit)}` : issue.message;
}
