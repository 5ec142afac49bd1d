import { expect } from 'chai';
import { ClusterFile } from '../../src/config/cluster';
import { PolicySettings } from '../../src/config/common';

// The two settings of the cold-start and second-network work: Hosts[].SecondaryAddress/SecondaryPort
// and Policies.ColdStartAloneSeconds, each refused with the field named when it makes no sense.

const FP_A = 'AA'.repeat(32);
const FP_B = 'BB'.repeat(32);
const cluster = (hosts: Array<Record<string, unknown>>) => ({
  ClusterName: 'c1',
  DataDirectory: 'data',
  Hosts: [
    { Name: 'hva', Address: '10.0.0.1', CertificateFingerprint: FP_A, ...hosts[0] },
    { Name: 'hvb', Address: '10.0.0.2', CertificateFingerprint: FP_B, ...hosts[1] },
  ],
});

describe('config: SecondaryAddress and ColdStartAloneSeconds', () => {
  it('accepts a second heartbeat address per host, its port defaulting to the host Port', () => {
    const c = ClusterFile.parse(cluster([{ SecondaryAddress: '10.1.0.1' }, { SecondaryAddress: '10.1.0.2', SecondaryPort: 7500 }]));
    expect(c.Hosts.map((h) => [h.SecondaryAddress, h.SecondaryPort, h.Port])).to.deep.equal([['10.1.0.1', undefined, 7420], ['10.1.0.2', 7500, 7420]]);
    expect(ClusterFile.parse(cluster([{}, {}])).Hosts[0]?.SecondaryAddress).to.equal(undefined);
  });

  it('refuses a SecondaryPort without SecondaryAddress, and a SecondaryAddress equal to Address, naming the field', () => {
    const noAddress = ClusterFile.safeParse(cluster([{ SecondaryPort: 7500 }, {}]));
    expect(noAddress.success).to.equal(false);
    expect(noAddress.error?.issues.map((i) => i.path.join('.'))).to.deep.equal(['Hosts.0.SecondaryPort']);
    const same = ClusterFile.safeParse(cluster([{}, { SecondaryAddress: '10.0.0.2' }]));
    expect(same.success).to.equal(false);
    expect(same.error?.issues.map((i) => i.path.join('.'))).to.deep.equal(['Hosts.1.SecondaryAddress']);
  });

  it('ColdStartAloneSeconds: null or absent means never; whole seconds from 0; anything else refused', () => {
    expect(PolicySettings.parse({}).ColdStartAloneSeconds).to.equal(undefined);
    expect(PolicySettings.parse({ ColdStartAloneSeconds: null }).ColdStartAloneSeconds).to.equal(null);
    expect(PolicySettings.parse({ ColdStartAloneSeconds: 600 }).ColdStartAloneSeconds).to.equal(600);
    for (const bad of [-1, 1.5, '600', 86400 * 31]) expect(PolicySettings.safeParse({ ColdStartAloneSeconds: bad }).success, String(bad)).to.equal(false);
  });
});
