import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { configJsonSchemas } from '../../src/config/json-schema';

describe('src/config/json-schema', () => {
  it('matches the committed docs/schema files (regenerate: npx ts-node -T scripts/generate-config-schema.ts)', async () => {
    const generated = configJsonSchemas();
    expect(Object.keys(generated)).to.have.members(['cluster.schema.json', 'module.schema.json', 'host.schema.json']);
    for (const [name, text] of Object.entries(generated)) {
      const onDisk = await readFile(join(__dirname, '..', '..', 'docs', 'schema', name), 'utf8');
      expect(onDisk, `docs/schema/${name} is stale`).to.equal(text);
    }
  });

  it('marks the files strict so editors flag unknown fields', () => {
    const cluster = JSON.parse(configJsonSchemas()['cluster.schema.json']!) as { additionalProperties: unknown; required: string[] };
    expect(cluster.additionalProperties).to.equal(false);
    expect(cluster.required).to.include.members(['ClusterName', 'Hosts', 'DataDirectory']);
  });
});
