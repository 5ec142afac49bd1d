// Copies the facts vmmirror's tests need from the Hyper-V module 2.0.0.0 reference (cmdlets with
// their parameter sets, enums by name, object types with their property names) into
// test/hypervisor/hyperv-signatures.json, the one fixture the signature checker
// (Find-HyperVCallMismatch.ps1) and the mock Hyper-V module (Private/Signatures.ps1) both read.
//
//   npx ts-node test/hypervisor/hyperv/signatures/extract.ts <hyperv-module-2.0.json> [out.json]
//
// The reference (../shared/reference/hyperv-module-2.0.json, facts extracted from HyperVDsc's stub
// module, which was generated from the real module on Windows) is not in the repository; the
// fixture is, so the tests never need it. signature-fixture.test.ts re-runs this when it is there.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';

const Reference = z.object({
  ModuleVersion: z.string(),
  Cmdlets: z.record(z.string(), 
    z.object({
      DefaultParameterSet: z.string().nullable(),
      SupportsShouldProcess: z.boolean(),
      Parameters: z.array(
        z.object({
          Name: z.string(),
          Type: z.string(),
          Aliases: z.array(z.string()),
          ParameterSets: z.array(
            z.object({ Set: z.string(), Mandatory: z.boolean(), Position: z.number().nullable(), ValueFromPipeline: z.boolean() }),
          ),
        }),
      ),
    }),
  ),
  Enums: z.record(z.string(), z.record(z.string(), z.number())),
  Types: z.record(z.string(), z.object({ Base: z.string().nullable(), Properties: z.record(z.string(), z.string()) })),
});

export const defaultFixturePath: string = resolve(__dirname, '..', '..', 'hyperv-signatures.json');

/** The fixture's text for a reference document (deterministic: same input, same bytes). */
export function extractSignatures(referenceText: string): string {
  const ref = Reference.parse(JSON.parse(referenceText));
  const cmdlets: Record<string, unknown> = {};
  for (const name of Object.keys(ref.Cmdlets).sort()) {
    const c = ref.Cmdlets[name]!;
    const parameters: Record<string, unknown> = {};
    for (const p of c.Parameters) {
      const sets: Record<string, { Mandatory: boolean; Position: number | null; Pipeline: boolean }> = {};
      for (const s of p.ParameterSets) sets[s.Set] = { Mandatory: s.Mandatory, Position: s.Position, Pipeline: s.ValueFromPipeline };
      parameters[p.Name] = { Type: p.Type, Aliases: p.Aliases, Sets: sets };
    }
    cmdlets[name] = { DefaultSet: c.DefaultParameterSet, ShouldProcess: c.SupportsShouldProcess, Parameters: parameters };
  }
  const enums: Record<string, string[]> = {};
  // Names only: the numbers differ between Windows builds, and ps/ sends enums as ToString().
  for (const name of Object.keys(ref.Enums).sort()) enums[name] = Object.keys(ref.Enums[name]!);
  const types: Record<string, unknown> = {};
  for (const name of Object.keys(ref.Types).sort()) types[name] = ref.Types[name];
  const fixture = {
    About:
      'Facts copied from the Hyper-V PowerShell module 2.0.0.0 reference by test/hypervisor/hyperv/signatures/extract.ts; ' +
      'do not edit by hand, regenerate. Sets: parameter set name -> Mandatory, Position, Pipeline; "__AllParameterSets" means every set.',
    ModuleVersion: ref.ModuleVersion,
    Cmdlets: cmdlets,
    Enums: enums,
    Types: types,
  };
  // One line per cmdlet, enum and type: small, yet a regenerated fixture diffs readably.
  const section = (o: Record<string, unknown>): string =>
    `{\n${Object.entries(o)
      .map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`)
      .join(',\n')}\n }`;
  return (
    `{\n "About": ${JSON.stringify(fixture.About)},\n "ModuleVersion": ${JSON.stringify(fixture.ModuleVersion)},\n` +
    ` "Cmdlets": ${section(cmdlets)},\n "Enums": ${section(enums)},\n "Types": ${section(types)}\n}\n`
  );
}

if (require.main === module) {
  const [input, output] = process.argv.slice(2);
  if (input === undefined) {
    process.stderr.write('usage: extract.ts <hyperv-module-2.0.json> [out.json]\n');
    process.exit(2);
  }
  writeFileSync(output ?? defaultFixturePath, extractSignatures(readFileSync(input, 'utf8')));
}
