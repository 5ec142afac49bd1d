#!/usr/bin/env node
'use strict';
// Runs the compiled CLI (built by `npm run build`, which `npm install` runs via "prepare").
require('../dist/cli/main.js').runCli(process.argv).then((code) => { process.exitCode = code; });
