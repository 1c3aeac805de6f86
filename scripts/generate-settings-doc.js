#!/usr/bin/env node
// Rewrites the settings table in README.md from every config slice the gateway runs with
// (run after `npm run build`).
const { readFileSync, writeFileSync } = require('node:fs');
const path = require('node:path');

const { renderSettingsTable } = require('../dist/apps/gateway/libs/config/src/settings-table');
const { GATEWAY_CONFIG_SLICES } = require('../dist/apps/gateway/apps/gateway/src/gateway-config');
const readme = path.join(__dirname, '..', 'README.md');
const [before, rest] = readFileSync(readme, 'utf8').split('<!-- settings:start -->');
const after = rest.split('<!-- settings:end -->')[1];
writeFileSync(
  readme,
  `${before}<!-- settings:start -->\n\n${renderSettingsTable(GATEWAY_CONFIG_SLICES)}\n\n<!-- settings:end -->${after}`,
);
