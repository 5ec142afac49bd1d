import { expect } from 'chai';
import { decideRole } from '../../src/agent/role';

describe('src/agent/role', () => {
  it('makes the default primary the primary and the other host the secondary', () => {
    const module = { name: 'web1', defaultPrimary: 'hv1' };
    expect(decideRole({ selfName: 'hv1', module })).to.equal('primary');
    expect(decideRole({ selfName: 'hv2', module })).to.equal('secondary');
  });

  it('compares host names case-insensitively, as the config loader does', () => {
    expect(decideRole({ selfName: 'HV1', module: { name: 'web1', defaultPrimary: 'hv1' } })).to.equal('primary');
  });
});
