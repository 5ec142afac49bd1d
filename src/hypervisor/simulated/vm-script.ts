import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

// Which script a VM process runs. From dist/ it is the compiled vm-process.js next to this file.
// Under ts-node (tests), starting every VM through ts-node costs a TypeScript load per VM, so the
// VM process's own source files are transpiled once into node_modules/.cache (keyed by their
// content, so never stale) and the VM runs as plain JavaScript.

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g;
let cached: { file: string; args: string[] } | undefined;

function resolveTs(fromFile: string, spec: string): string | null {
  const base = resolve(dirname(fromFile), spec);
  for (const candidate of [`${base}.ts`, join(base, 'index.ts')]) if (existsSync(candidate)) return candidate;
  return null;
}

/** Every .ts file `entry` reaches through relative imports. */
function closure(entry: string): string[] {
  const seen = new Set<string>([entry]);
  const todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop()!;
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const dep = resolveTs(file, m[1]!);
      if (dep !== null && !seen.has(dep)) {
        seen.add(dep);
        todo.push(dep);
      }
    }
  }
  return [...seen].sort();
}

// The folder holding `src/` (where node_modules lives).
function projectRoot(): string | null {
  let dir = __dirname;
  while (dirname(dir) !== dir) {
    if (existsSync(join(dir, 'node_modules')) && existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return null;
}

function transpiledVmScript(tsEntry: string): string | null {
  const root = projectRoot();
  if (root === null) return null;
  // typescript is a devDependency: present exactly when ts-node is.
  const ts = require('typescript') as typeof import('typescript');
  const files = closure(tsEntry);
  const hash = createHash('sha256');
  for (const f of files) hash.update(f).update('\0').update(readFileSync(f)).update('\0');
  const outDir = join(root, 'node_modules', '.cache', 'vmmirror-sim-vm', hash.digest('hex').slice(0, 16));
  const out = (f: string): string => join(outDir, relative(root, f).split(sep).join('/').replace(/\.ts$/, '.js'));
  if (!existsSync(out(tsEntry))) {
    // Built in a private folder and renamed into place whole: a reader never sees half of it.
    const staging = `${outDir}.${process.pid}.tmp`;
    const at = (f: string): string => join(staging, relative(outDir, out(f)));
    for (const f of files) {
      const js = ts.transpileModule(readFileSync(f, 'utf8'), {
        fileName: f,
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      }).outputText;
      mkdirSync(dirname(at(f)), { recursive: true });
      writeFileSync(at(f), js);
    }
    try {
      renameSync(staging, outDir);
    } catch {
      // Another process won the race with identical content.
      rmSync(staging, { recursive: true, force: true });
    }
  }
  return out(tsEntry);
}

/** The command that runs vm-process: argv to append is (stateDir, vmId, bootId). */
export function vmProcessCommand(): { file: string; args: string[] } {
  if (cached !== undefined) return cached;
  const js = join(__dirname, 'vm-process.js');
  if (existsSync(js)) return (cached = { file: process.execPath, args: [js] });
  const ts = join(__dirname, 'vm-process.ts');
  try {
    const script = transpiledVmScript(ts);
    if (script !== null) return (cached = { file: process.execPath, args: [script] });
  } catch {
    // Fall through to ts-node: slower, same behaviour.
  }
  return (cached = { file: process.execPath, args: ['-r', require.resolve('ts-node/register/transpile-only'), ts] });
}
