// Records what dist/ was built from, for the mailgateway_build_info metric: package.json's version
// and the commit, from BUILD_COMMIT when set (image builds, which have no .git), else from git.
const { execFileSync } = require('node:child_process');
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');

function gitCommit() {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return undefined;
  }
}

const { version } = require(join(root, 'package.json'));
const commit = process.env.BUILD_COMMIT?.trim() || gitCommit() || 'unknown';
writeFileSync(join(root, 'dist', 'build-info.json'), `${JSON.stringify({ version, commit })}\n`);
console.log(`dist/build-info.json: version ${version}, commit ${commit}`);
