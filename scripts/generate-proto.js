#!/usr/bin/env node
// Regenerates libs/contracts/src/generated (the gateway's) and libs/client/src/generated (the client
// package's) from proto/ with buf (lint + generate) and ts-proto.
// buf runs through npx at a pinned version: only this script needs it, so installs stay lean.
const { execFileSync } = require('node:child_process');
const { rmSync } = require('node:fs');
const path = require('node:path');

const BUF = '@bufbuild/buf@1.75.0';
const root = path.resolve(__dirname, '..');
const run = (command, args) => execFileSync(command, args, { cwd: root, stdio: 'inherit' });

const GENERATED = ['libs/contracts/src/generated', 'libs/client/src/generated'];

for (const folder of GENERATED) rmSync(path.join(root, folder), { recursive: true, force: true });
run('npx', ['--yes', BUF, 'lint']);
run('npx', ['--yes', BUF, 'generate']);
run(path.join(root, 'node_modules/.bin/prettier'), ['--write', '--log-level=warn', ...GENERATED]);
