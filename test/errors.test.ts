import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, ExitCodes, ReplicationError, VmmirrorError, fromNodeError, hasCode } from '../src/errors';

describe('errors', () => {
  it('maps every code to a documented exit class', () => {
    for (const [code, cls] of Object.entries(ErrorCodes)) {
      expect(ExitCodes, code).to.have.property(cls);
      expect(new VmmirrorError(code as keyof typeof ErrorCodes, 'x').exitCode).to.equal(ExitCodes[cls]);
    }
  });

  it('lists every code in docs/errors.md', () => {
    const doc = readFileSync(join(__dirname, '..', 'docs', 'errors.md'), 'utf8');
    const missing = Object.keys(ErrorCodes).filter((code) => {
      if (doc.includes(`\`${code}\``)) return false;
      const prefix = code.split('_')[0];
      return !doc.includes(`\`${prefix}_*\``);
    });
    expect(missing, 'codes missing from docs/errors.md').to.deep.equal([]);
  });

  it('turns a full disk into DISK_FULL and a missing file into FILE_NOT_FOUND', () => {
    const enospc = Object.assign(new Error('write failed'), { code: 'ENOSPC' });
    const enoent = Object.assign(new Error('open failed'), { code: 'ENOENT' });

    expect(hasCode(fromNodeError(enospc, 'x'), 'DISK_FULL')).to.equal(true);
    expect(hasCode(fromNodeError(enoent, 'x'), 'FILE_NOT_FOUND')).to.equal(true);
    expect(fromNodeError(new ReplicationError('STREAM_INVALID', 'y'), 'x')).to.be.instanceOf(ReplicationError);
  });
});
