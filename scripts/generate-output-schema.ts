import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { outputJsonSchemas } from '../src/cli/output-schemas';

// Writes docs/schema/output/*.schema.json from the CLI's output registry (src/cli/output-schemas.ts);
// test/cli/json-contract-schema.test.ts checks they are current. A file no command owns any more is
// removed, so the folder lists exactly the registered commands.
const dir = join(__dirname, '..', 'docs', 'schema', 'output');
mkdirSync(dir, { recursive: true });
const schemas = outputJsonSchemas();
for (const old of readdirSync(dir)) {
  if (old.endsWith('.schema.json') && !(old in schemas)) {
    rmSync(join(dir, old));
    process.stderr.write(`removed docs/schema/output/${old}\n`);
  }
}
for (const [name, text] of Object.entries(schemas)) {
  writeFileSync(join(dir, name), text);
  process.stderr.write(`wrote docs/schema/output/${name}\n`);
}
