#!/usr/bin/env node
// Guards the gRPC contract: `buf lint` (the rules in buf.yaml), then `buf breaking` against the
// last landed contract, the commit named in proto/landed-contract.ref. Exits non-zero with buf's
// findings on a lint failure or a breaking change.
// Usage: node scripts/check-contract.js [workspace]  (a folder holding buf.yaml and proto/;
// default: this repository, whose git history holds the landed contract either way)
const { execFileSync } = require('node:child_process');
const { readFileSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const workspace = path.resolve(process.argv[2] ?? root);
const REF_FILE = 'proto/landed-contract.ref';

function fail(message) {
  process.stderr.write(`check-contract: ${message}\n`);
  process.exit(1);
}

const ref = readFileSync(path.join(workspace, REF_FILE), 'utf8').trim();
if (!/^[0-9a-f]{40}$/.test(ref)) fail(`${REF_FILE}: must hold one full commit id (40 hex digits)`);
try {
  execFileSync('git', ['cat-file', '-e', `${ref}^{commit}`], { cwd: root, stdio: 'ignore' });
} catch {
  fail(`${REF_FILE}: commit ${ref} is not in this clone's history (a shallow clone lacks it: fetch it)`);
}

const buf = path.join(root, 'node_modules/.bin/buf');
const run = (args, what) => {
  try {
    execFileSync(buf, args, { cwd: workspace, stdio: 'inherit' });
  } catch {
    fail(what);
  }
};
run(['lint'], 'buf lint failed (see above)');
run(
  ['breaking', '--against', `${path.join(root, '.git')}#ref=${ref}`],
  `breaking change against the landed contract ${ref} (see above; README "Changing the contract")`,
);
