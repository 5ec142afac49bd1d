import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configJsonSchemas } from '../src/config/json-schema';

// Writes docs/schema/*.schema.json from the zod schemas; test/config/json-schema.test.ts checks they are current.
const dir = join(__dirname, '..', 'docs', 'schema');
mkdirSync(dir, { recursive: true });
for (const [name, text] of Object.entries(configJsonSchemas())) {
  writeFileSync(join(dir, name), text);
  process.stderr.write(`wrote docs/schema/${name}\n`);
}
