'use strict';
// The vmmirror CLI from the sources (ts-node), for the PowerShell module's tests: dist/ is not
// rebuilt while the tests run, so $env:VMMIRROR_CLI points here instead of bin/vmmirror.js.
const { join } = require('node:path');
const root = join(__dirname, '..', '..', '..');
process.env.TS_NODE_PROJECT = join(root, 'tsconfig.json');
require(require.resolve('ts-node/register/transpile-only', { paths: [root] }));
require(join(root, 'src', 'cli', 'main.ts'))
  .runCli(process.argv)
  .then((code) => {
    process.exitCode = code;
  });
