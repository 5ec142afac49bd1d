import { expect } from 'chai';
import { Command } from 'commander';
import { readFile, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { registrars } from '../../src/cli/definitions';
import { run } from '../../src/util/exec';
import { makeConfig } from '../config/fixture';
import { tempDir } from '../helpers/tmp';
import { CLI_MAIN } from './vmmirror-process';

// Guards the CLI's fast start (docs/performance.md, CLI start-up) by structure, not by timing:
// the CLI runs in a child with a require hook that records every module it loaded, and the
// frequent commands must not load the engine, drivers, peer link, logger or (for --help) zod.
// A top-level import of a command implementation in src/cli/definitions/ or main.ts fails here.

const ROOT = join(__dirname, '..', '..');

// Preloaded after ts-node: writes the paths of every module in require.cache when the process exits.
const RECORDER = `'use strict';
const { writeFileSync } = require('node:fs');
process.on('exit', () => writeFileSync(process.env.VMMIRROR_TEST_LOADED, Object.keys(require.cache).join('\\n')));
`;

interface Loaded {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Project files (src/...) loaded, relative to the repository, with '/' separators. */
  src: string[];
  /** Packages under node_modules that were loaded (ts-node's own excluded). */
  packages: string[];
}

const TS_NODE_PACKAGES = new Set(['ts-node', 'typescript', 'source-map-support', 'source-map', 'buffer-from', '@cspotcode/source-map-support', '@cspotcode/source-map-consumer', 'v8-compile-cache-lib', 'make-error', 'arg', 'diff', 'yn', 'create-require', 'acorn', 'acorn-walk', '@tsconfig/node10', '@tsconfig/node12', '@tsconfig/node14', '@tsconfig/node16', '@jridgewell/trace-mapping', '@jridgewell/resolve-uri', '@jridgewell/sourcemap-codec']);

function packageOf(path: string): string | undefined {
  const m = /node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(path.slice(path.lastIndexOf(`node_modules${sep}`)));
  return m?.[1].replace(/\\/g, '/');
}

async function loadedBy(dir: string, args: string[]): Promise<Loaded> {
  const recorder = join(dir, 'record-loaded.js');
  const out = join(dir, `loaded-${Date.now()}-${Math.random().toString(16).slice(2)}.txt`);
  await writeFile(recorder, RECORDER);
  const r = await run(process.execPath, ['-r', 'ts-node/register/transpile-only', '-r', recorder, CLI_MAIN, ...args], {
    env: { VMMIRROR_TEST_LOADED: out, VMMIRROR_LOG_LEVEL: 'warn' },
  });
  const paths = (await readFile(out, 'utf8')).split('\n').filter((p) => p.length > 0);
  const src = paths.filter((p) => !p.includes('node_modules') && p.startsWith(join(ROOT, 'src'))).map((p) => relative(ROOT, p).split(sep).join('/'));
  const packages = [...new Set(paths.map(packageOf).filter((p): p is string => p !== undefined && !TS_NODE_PACKAGES.has(p)))].sort();
  return { ...r, src, packages };
}

/** Layers a frequent command must never load: the engine, drivers, peer link, cluster, agent runtime. */
function heavy(src: string[]): string[] {
  return src.filter((p) => /^src\/(replication|hypervisor|peer|cluster|guard|witness)\//.test(p) || (p.startsWith('src/agent/') && !/^src\/agent\/control\/(client|endpoint|auth)\.ts$/.test(p)));
}

describe('CLI start-up (what `vmmirror --help`, `status` and `config validate` load)', function () {
  this.timeout(120_000);
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());

  it('--help loads only main, the command declarations and errors: no implementation, no zod, no logger', async () => {
    const r = await loadedBy(dir, ['--help']);
    expect(r.exitCode, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('Examples:');
    const allowed = /^src\/(errors\.ts|cli\/(main|help|command|error-document)\.ts|cli\/definitions\/[a-z-]+\.ts)$/;
    expect(r.src.filter((p) => !allowed.test(p)), 'project files loaded by --help').to.deep.equal([]);
    expect(r.src).to.include('src/cli/definitions/replicate.ts'); // the recorder does see project files
    expect(r.packages).to.deep.equal(['commander']);
  });

  it('a command\'s own --help (nested too) loads no implementation either', async () => {
    for (const args of [['replicate', '--help'], ['witness', 'init', '--help']]) {
      const r = await loadedBy(dir, args);
      expect(r.exitCode, r.stderr).to.equal(0);
      expect(r.stdout).to.contain('Examples:');
      expect(r.src.filter((p) => p.startsWith('src/cli/commands/') || !p.startsWith('src/cli/')).filter((p) => p !== 'src/errors.ts'), args.join(' ')).to.deep.equal([]);
      expect(r.packages, args.join(' ')).to.deep.equal(['commander']);
    }
  });

  it('status with no agent fails with AGENT_UNREACHABLE having loaded only the control client and config', async () => {
    const f = await makeConfig(join(dir, 'status'));
    await f.writeCluster({ ...f.cluster, Agent: { ControlSocket: join(dir, 'status', 'no-agent.sock') } });
    const r = await loadedBy(dir, ['status', '--dir', f.dir, '--json']);
    expect(r.exitCode, r.stderr).to.equal(7);
    expect(JSON.parse(r.stdout).Error.Code).to.equal('AGENT_UNREACHABLE');
    expect(heavy(r.src), 'heavy layers loaded by status').to.deep.equal([]);
    expect(r.src).to.include('src/agent/control/client.ts');
    expect(r.src, 'status schemas load only after the agent answered').to.not.include('src/agent/control/documents.ts');
    expect(r.packages).to.deep.equal(['commander', 'zod']);
  });

  it('config validate on a valid config loads the config schemas only (no cron for second intervals)', async () => {
    const f = await makeConfig(join(dir, 'validate'));
    const r = await loadedBy(dir, ['config', 'validate', '--dir', f.dir, '--json']);
    expect(r.exitCode, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.include({ Valid: true, ModuleCount: 1 });
    expect(heavy(r.src), 'heavy layers loaded by config validate').to.deep.equal([]);
    expect(r.src.filter((p) => p.startsWith('src/agent/'))).to.deep.equal([]);
    expect(r.packages).to.deep.equal(['commander', 'zod']);
  });

  it('every command and subcommand has a description and an Examples block in its --help', () => {
    const program = new Command('vmmirror');
    for (const register of registrars) register(program, async () => undefined);
    const all: Command[] = [];
    const walk = (c: Command): void => c.commands.forEach((sub) => (all.push(sub), walk(sub)));
    walk(program);
    expect(all.length).to.be.greaterThan(12);
    for (const c of all) {
      let help = '';
      c.configureOutput({ writeOut: (s) => void (help += s), writeErr: (s) => void (help += s) });
      c.outputHelp();
      expect(c.description(), c.name()).to.not.equal('');
      expect(help, `${c.parent?.name()} ${c.name()} --help`).to.match(/\nExamples:\n {2}# .+\n {2}vmmirror /);
    }
  });
});
