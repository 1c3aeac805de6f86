#!/usr/bin/env node
// Builds the installable @mailgateway/client in dist/packages/client: package.json and README,
// lib/ (JavaScript and type declarations) and proto/ (the contract, which the client loads at run
// time). `npm pack dist/packages/client` or `npm publish dist/packages/client` takes it from there.
const { execFileSync } = require('node:child_process');
const { cpSync, rmSync, statSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const source = path.join(root, 'libs/client');
const out = path.join(root, 'dist/packages/client');

rmSync(out, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [require.resolve('typescript/bin/tsc'), '-p', path.join(source, 'tsconfig.build.json')],
  {
    stdio: 'inherit',
  },
);
// libs/client/proto links to the repository's proto/: the package gets the files themselves.
cpSync(path.join(source, 'proto'), path.join(out, 'proto'), {
  recursive: true,
  dereference: true,
  filter: (file) => statSync(file).isDirectory() || file.endsWith('.proto'),
});
for (const file of ['package.json', 'README.md']) cpSync(path.join(source, file), path.join(out, file));
