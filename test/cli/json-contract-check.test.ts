import { expect } from 'chai';
import { contractProblems } from './json-contract-check';
import type { PwshValue, PwshVerdict } from './json-contract-pwsh';

// The judge of test/cli/json-contract.test.ts on hand-made PowerShell readings: each break of the
// contract it exists to catch is caught (a judge that passes everything would prove nothing).

const schema = {
  type: 'object',
  properties: {
    At: { type: 'string', format: 'date-time' },
    Size: { type: 'integer' },
    Hosts: { type: 'array', items: { type: 'string' } },
    Extra: { anyOf: [{ type: 'object', properties: { Name: { type: 'string' } } }, { type: 'null' }] },
    Details: { type: 'object', additionalProperties: {} },
  },
  additionalProperties: false,
};
const text = JSON.stringify({ At: '2026-12-01T18:53:13.123Z', Size: 5, Hosts: ['hva'], Extra: { Name: 'x' }, Details: { Any: [1] } });
const good: PwshValue[] = [
  { Path: '$', Kind: 'object', Names: ['At', 'Size', 'Hosts', 'Extra', 'Details'] },
  { Path: '$.At', Kind: 'date', Utc: '2026-12-01T18:53:13.1230000Z' },
  { Path: '$.Size', Kind: 'integer' },
  { Path: '$.Hosts', Kind: 'array', Count: 1 },
  { Path: '$.Hosts[0]', Kind: 'string' },
  { Path: '$.Extra', Kind: 'object', Names: ['Name'] },
  { Path: '$.Extra.Name', Kind: 'string' },
  { Path: '$.Details', Kind: 'object', Names: ['Any'] },
  { Path: '$.Details.Any', Kind: 'array', Count: 1 },
  { Path: '$.Details.Any[0]', Kind: 'integer' },
];

function verdict(values: PwshValue[], extra: Partial<PwshVerdict> = {}): PwshVerdict {
  return { Name: 't', ParseError: null, Valid: true, SchemaErrors: [], Values: values, ...extra };
}

function replaced(path: string, v: Partial<PwshValue>): PwshValue[] {
  return good.map((g) => (g.Path === path ? { ...g, ...v } : g));
}

describe('test/cli/json-contract-check (the PowerShell reading judged against a schema)', () => {
  it('accepts a reading that keeps the contract, also under an open schema (Details)', () => {
    expect(contractProblems(verdict(good), text, schema)).to.deep.equal([]);
  });

  it('catches a property name that is not PascalCase, also under an open schema', () => {
    const camel = text.replace('"Any"', '"any"');
    const values = good.map((g) => (g.Path === '$.Details' ? { ...g, Names: ['any'] } : { ...g, Path: g.Path.replace('.Any', '.any') }));
    expect(contractProblems(verdict(values), camel, schema)).to.deep.equal(['$.Details.any: not PascalCase']);
  });

  it('catches a timestamp PowerShell left a string, a size that is not a whole number, an unrolled array', () => {
    expect(contractProblems(verdict(replaced('$.At', { Kind: 'string' })), text, schema)).to.include('$.At: PowerShell gives string, the schema says date');
    expect(contractProblems(verdict(replaced('$.Size', { Kind: 'number' })), text, schema)).to.include('$.Size: PowerShell gives number, the schema says integer');
    expect(contractProblems(verdict(replaced('$.Hosts', { Kind: 'string', Count: undefined })), text, schema)[0]).to.match(/^\$\.Hosts: PowerShell gives string/);
  });

  it('catches a [datetime] of another instant, an array of another length, names PowerShell sees otherwise', () => {
    expect(contractProblems(verdict(replaced('$.At', { Utc: '2026-12-01T19:53:13.1230000Z' })), text, schema)[0]).to.match(/is not the instant/);
    expect(contractProblems(verdict(replaced('$.Hosts', { Count: 2 })), text, schema)[0]).to.match(/array of 2 in PowerShell/);
    expect(contractProblems(verdict(replaced('$.Extra', { Names: ['name'] })), text, schema)[0]).to.match(/PowerShell sees properties/);
  });

  it('catches a value no schema describes, a failed Test-Json and a document ConvertFrom-Json refused', () => {
    expect(contractProblems(verdict([...good, { Path: '$.Other', Kind: 'string' }]), text, schema)).to.include('$.Other: no schema describes it');
    expect(contractProblems(verdict(good, { Valid: false, SchemaErrors: ['missing Hosts'] }), text, schema)[0]).to.equal('Test-Json: missing Hosts');
    expect(contractProblems(verdict([], { ParseError: 'keys with different casing' }), text, schema)).to.deep.equal(['ConvertFrom-Json failed: keys with different casing']);
  });
});
