import { expect } from 'chai';
import { LOCATOR_TYPE_VHDX, parseParentLocator } from '../../../src/replication/vhdx/parent-locator';
import { buildParentLocator } from './fixtures';
import { vhdxContext } from '../../../src/replication/vhdx/file-io';
import { VmmirrorError } from '../../../src/errors';

describe('src/replication/vhdx/parent-locator', () => {
  const ctx = vhdxContext('/x/child.vhdx');

  it('decodes the locator type and UTF-16 key/value pairs', () => {
    const raw = buildParentLocator({ parent_linkage: '{83ed0ec3-24c8-49a6-a959-5e4bf1288bfb}', relative_path: '..\\base\\parent.vhdx', absolute_win32_path: 'D:\\VMs\\base\\parent.vhdx' });
    const loc = parseParentLocator(ctx, raw);
    expect(loc.locatorType).to.equal(LOCATOR_TYPE_VHDX);
    expect(loc.entries).to.deep.equal({ parent_linkage: '{83ed0ec3-24c8-49a6-a959-5e4bf1288bfb}', relative_path: '..\\base\\parent.vhdx', absolute_win32_path: 'D:\\VMs\\base\\parent.vhdx' });
  });

  it('refuses entries that point outside the item, or more entries than fit', () => {
    const raw = buildParentLocator({ parent_linkage: '{x}' });
    const badOffset = Buffer.from(raw);
    badOffset.writeUInt32LE(raw.length + 10, 24);
    expect(() => parseParentLocator(ctx, badOffset)).to.throw(VmmirrorError).with.property('code', 'VHDX_INVALID');
    const tooMany = Buffer.from(raw);
    tooMany.writeUInt16LE(500, 18);
    expect(() => parseParentLocator(ctx, tooMany)).to.throw(VmmirrorError).with.property('code', 'VHDX_INVALID');
  });
});
