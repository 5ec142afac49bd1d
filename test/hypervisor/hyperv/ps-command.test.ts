import { expect } from 'chai';
import { preludeCommand, scriptCommand } from '../../../src/hypervisor/hyperv/ps-command';
import { seeded } from '../../helpers/seed';

// The PowerShell source vmmirror sends: constant text, and base64 wherever data goes.

describe('src/hypervisor/hyperv/ps-command', () => {
  it('builds a command line in which nothing but base64 text varies, whatever the input and path', () => {
    const shape = /^& \(\[System\.Text\.Encoding\]::UTF8\.GetString\(\[System\.Convert\]::FromBase64String\('[A-Za-z0-9+/=]*'\)\)\) -InputBase64 '[A-Za-z0-9+/=]*'$/;
    const nasty = ["'", '‘', '’', '‚', '‛', '"', '“', '”', '„', '–', '—', '―', '$', '(', ')', '`', ';', '|', '&', '\n', '\r', '\u0000', '{', '}', '[', ']', '*', '?', ':', ',', '#', '<', '>', '@', 'é', '名', '🚀', ' ', '-'];
    const r = seeded('ps-runner-command');
    for (let i = 0; i < 500; i++) {
      const pick = (n: number): string => Array.from({ length: n }, () => (r.rand() < 0.7 ? nasty[r.int(0, nasty.length - 1)] : String.fromCodePoint(r.int(32, 0xd7ff)))).join('');
      const path = `/opt/vm'mirror ${pick(r.int(0, 12))}/ps/Get-MirrorVm.ps1`;
      const input = { Name: pick(r.int(0, 40)), Nested: [pick(r.int(0, 8)), { K: pick(r.int(0, 8)) }] };
      const cmd = scriptCommand(path, input);
      expect(cmd, `seed ${r.seed} case ${i}`).to.match(shape);
      const [p64, i64] = [...cmd.matchAll(/'([A-Za-z0-9+/=]*)'/g)].map((m) => m[1]!);
      expect(Buffer.from(p64!, 'base64').toString('utf8')).to.equal(path);
      expect(JSON.parse(Buffer.from(i64!, 'base64').toString('utf8'))).to.deep.equal(input);
    }
  });

  it('passes module paths to the session prelude only as base64', () => {
    const cmd = preludeCommand(["/opt/x'; Remove-Item $HOME; '/Mock ‘q’.psm1"]);
    expect(cmd).to.not.include('Remove-Item');
    expect(cmd).to.not.include('‘');
    expect(cmd).to.match(/Import-Module -Name \(\[System\.Text\.Encoding\]::UTF8\.GetString\(\[System\.Convert\]::FromBase64String\('[A-Za-z0-9+\/=]+'\)\)\)/);
  });
});
