import { z } from 'zod';
import { ClusterFile } from './cluster';
import { HostLocalFile } from './host-local';
import { ModuleFile } from './module';

// JSON Schema for editors and users, generated from the zod schemas (the single source of truth).

/** Each user-facing file's JSON Schema, keyed by the file name written into docs/schema/. */
export function configJsonSchemas(): Record<string, string> {
  const files: Record<string, z.ZodType> = {
    'cluster.schema.json': ClusterFile,
    'module.schema.json': ModuleFile,
    'host.schema.json': HostLocalFile,
  };
  const out: Record<string, string> = {};
  for (const [name, schema] of Object.entries(files)) {
    const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' });
    out[name] = `${JSON.stringify({ ...json, $id: `https://vmmirror.invalid/schema/${name}` }, null, 2)}\n`;
  }
  return out;
}
