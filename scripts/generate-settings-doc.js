#!/usr/bin/env node
// Rewrites the settings table in README.md from the config schema (run after `npm run build`).
const { readFileSync, writeFileSync } = require('node:fs');
const path = require('node:path');

const { renderSettingsTable } = require('../dist/apps/gateway/libs/config/src/settings-table');
const readme = path.join(__dirname, '..', 'README.md');
const [before, rest] = readFileSync(readme, 'utf8').split('<!-- settings:start -->');
const after = rest.split('<!-- settings:end -->')[1];
writeFileSync(
  readme,
  `${before}<!-- settings:start -->\n\n${renderSettingsTable()}\n\n<!-- settings:end -->${after}`,
);
