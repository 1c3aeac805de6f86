#!/usr/bin/env node
// Regenerates libs/contracts/src/generated from proto/ with buf (lint + generate) and ts-proto, and
// proto/mailgateway.binpb, the compiled contract served by reflection.
// buf runs through npx at a pinned version: only this script needs it, so installs stay lean.
const { execFileSync } = require('node:child_process');
const { rmSync } = require('node:fs');
const path = require('node:path');

const BUF = '@bufbuild/buf@1.75.0';
const root = path.resolve(__dirname, '..');
const run = (command, args) => execFileSync(command, args, { cwd: root, stdio: 'inherit' });

rmSync(path.join(root, 'libs/contracts/src/generated'), { recursive: true, force: true });
run('npx', ['--yes', BUF, 'lint']);
run('npx', ['--yes', BUF, 'generate']);
// The compiled contract that server reflection serves (see MAIL_GATEWAY_DESCRIPTOR_SET_PATH).
run('npx', ['--yes', BUF, 'build', '--as-file-descriptor-set', '-o', 'proto/mailgateway.binpb']);
run(path.join(root, 'node_modules/.bin/prettier'), [
  '--write',
  '--log-level=warn',
  'libs/contracts/src/generated',
]);
