#!/usr/bin/env node
// Regenerates libs/contracts/src/generated (the gateway's) and libs/client/src/generated (the client
// package's) from proto/ with buf (lint + generate) and ts-proto, and proto/mailgateway.binpb, the
// compiled contract served by reflection. buf and ts-proto are pinned dev dependencies, so `npm ci`
// brings them.
const { execFileSync } = require('node:child_process');
const { rmSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const bin = (name) => path.join(root, 'node_modules/.bin', name);
const run = (command, args) => execFileSync(command, args, { cwd: root, stdio: 'inherit' });
const GENERATED = ['libs/contracts/src/generated', 'libs/client/src/generated'];

for (const folder of GENERATED) rmSync(path.join(root, folder), { recursive: true, force: true });
run(bin('buf'), ['lint']);
run(bin('buf'), ['generate']);
// The compiled contract that server reflection serves (see MAIL_GATEWAY_DESCRIPTOR_SET_PATH).
run(bin('buf'), ['build', '--as-file-descriptor-set', '-o', 'proto/mailgateway.binpb']);
run(bin('prettier'), ['--write', '--log-level=warn', ...GENERATED]);
