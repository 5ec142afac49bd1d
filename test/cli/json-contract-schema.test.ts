import { expect } from 'chai';
import { Command } from 'commander';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { registrars } from '../../src/cli/definitions';
import { outputJsonSchemas, outputSchemaFileName, outputSchemas } from '../../src/cli/output-schemas';

// The JSON contract's schemas: one per command that prints (every command takes --json), generated
// from the zod schemas into docs/schema/output/. test/cli/json-contract.test.ts runs the commands.

const OUTPUT_DIR = join(__dirname, '..', '..', 'docs', 'schema', 'output');

/** Every command a user can run, as typed ("lab create"), read from the CLI's own definitions. */
function runnableCommands(): string[] {
  const program = new Command('vmmirror');
  for (const register of registrars) register(program, async () => undefined);
  const leaves: string[] = [];
  const walk = (c: Command, path: string[]): void => {
    if (c.commands.length === 0) leaves.push(path.join(' '));
    for (const sub of c.commands) walk(sub, [...path, sub.name()]);
  };
  for (const c of program.commands) walk(c, [c.name()]);
  return leaves;
}

describe('src/cli/output-schemas (the --json contract registry)', () => {
  it('has one schema for every runnable command, and none for a command that does not exist', () => {
    const commands = runnableCommands();
    expect(commands.length, 'commands found in src/cli/definitions').to.be.greaterThan(15);
    const registered = outputSchemas.map((e) => e.command);
    expect(new Set(registered).size, 'a command registered twice').to.equal(registered.length);
    const missing = commands.filter((c) => !registered.includes(c));
    const unknown = registered.filter((c) => !commands.includes(c));
    expect(missing, 'commands with --json but no entry in src/cli/output-schemas.ts').to.deep.equal([]);
    expect(unknown, 'entries in src/cli/output-schemas.ts for no command').to.deep.equal([]);
  });

  it('matches the committed docs/schema/output files byte for byte (regenerate: npx ts-node -T scripts/generate-output-schema.ts)', async () => {
    const generated = outputJsonSchemas();
    const onDisk = (await readdir(OUTPUT_DIR)).filter((f) => f.endsWith('.schema.json'));
    expect(onDisk.sort(), 'files in docs/schema/output').to.deep.equal(Object.keys(generated).sort());
    for (const [name, text] of Object.entries(generated)) {
      expect(await readFile(join(OUTPUT_DIR, name), 'utf8'), `docs/schema/output/${name} is stale`).to.equal(text);
    }
  });

  it('describes exact documents: objects closed, timestamps as date-time strings', () => {
    const status = JSON.parse(outputJsonSchemas()[outputSchemaFileName('status')]!) as {
      additionalProperties: unknown;
      properties: { GeneratedAt: { type: string; format: string }; Hosts: { type: string } };
    };
    expect(status.additionalProperties).to.equal(false);
    expect(status.properties.GeneratedAt).to.include({ type: 'string', format: 'date-time' });
    expect(status.properties.Hosts.type).to.equal('array');
    const error = JSON.parse(outputJsonSchemas()['error.schema.json']!) as { required: string[] };
    expect(error.required).to.deep.equal(['Error']);
  });
});
