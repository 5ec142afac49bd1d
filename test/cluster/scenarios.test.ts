import { expect } from 'chai';
import { TRANSITIONS } from '../../src/cluster';
import { loadScenarios, runScenario } from './scenario-runner';

describe('cluster/step (scenarios as data, simulated clock)', () => {
  const scenarios = loadScenarios();
  const seen = new Set<string>();

  for (const sc of scenarios) {
    it(sc.name, () => {
      for (const t of runScenario(sc)) seen.add(`${t.from}->${t.to}`);
    });
  }

  it('exercises every row of the transition table, and makes no change the table lacks', () => {
    // Re-run here so the check does not depend on the order mocha runs the cases in.
    const all = new Set<string>();
    for (const sc of scenarios) for (const t of runScenario(sc)) all.add(`${t.from}->${t.to}`);
    const table = new Set(TRANSITIONS.map((t) => `${t.from}->${t.to}`));
    expect([...table].filter((t) => !all.has(t)), 'rows no scenario exercises').to.deep.equal([]);
    expect([...all].filter((t) => !table.has(t)), 'changes outside the table').to.deep.equal([]);
  });
});
