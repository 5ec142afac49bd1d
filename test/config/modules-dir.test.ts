import { expect } from 'chai';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ModuleFile } from '../../src/config';

// The repository's modules/ folder: the template and every worked example pass the module schema.
describe('modules/ (templates and examples)', () => {
  const root = join(__dirname, '..', '..', 'modules');

  it('has a template that the module schema accepts', async () => {
    const raw = JSON.parse(await readFile(join(root, 'template.json'), 'utf8')) as unknown;
    const r = ModuleFile.safeParse(raw);
    expect(r.success, JSON.stringify(r.error?.issues)).to.equal(true);
  });

  it('has worked examples that the module schema accepts, each named after its module', async () => {
    const files = (await readdir(join(root, 'examples'))).filter((f) => f.endsWith('.json'));
    expect(files.length).to.be.greaterThan(0);
    for (const f of files) {
      const r = ModuleFile.safeParse(JSON.parse(await readFile(join(root, 'examples', f), 'utf8')));
      expect(r.success, `${f}: ${JSON.stringify(r.error?.issues)}`).to.equal(true);
      expect(`${r.data!.Name}.json`).to.equal(f);
    }
  });

  it('is really checked: a typo in a copy of the example is refused', async () => {
    const raw = JSON.parse(await readFile(join(root, 'examples', 'web1.json'), 'utf8')) as Record<string, unknown>;
    expect(ModuleFile.safeParse({ ...raw, DefaultPrimery: 'hv1' }).success).to.equal(false);
  });
});
