#!/usr/bin/env node
// Regenerates libs/contracts/src/generated from proto/ with buf and ts-proto (both from npm).
const { execFileSync } = require('node:child_process');
const { rmSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
rmSync(path.join(root, 'libs/contracts/src/generated'), { recursive: true, force: true });
execFileSync(path.join(root, 'node_modules/.bin/buf'), ['lint'], { cwd: root, stdio: 'inherit' });
execFileSync(path.join(root, 'node_modules/.bin/buf'), ['generate'], { cwd: root, stdio: 'inherit' });
execFileSync(path.join(root, 'node_modules/.bin/prettier'), ['--write', 'libs/contracts/src/generated'], {
  cwd: root,
  stdio: 'ignore',
});
