import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILD_INFO_FILE, readBuildInfo } from './build-info';

describe(readBuildInfo.name, () => {
  let root: string;
  beforeEach(() => (root = mkdtempSync(join(tmpdir(), 'build-info-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('reads the build-info.json of the nearest folder above the code that has one', () => {
    const code = join(root, 'dist', 'apps', 'gateway', 'libs');
    mkdirSync(code, { recursive: true });
    writeFileSync(join(root, 'dist', BUILD_INFO_FILE), JSON.stringify({ version: '0.4.0', commit: 'f00d' }));
    expect(readBuildInfo(code)).toEqual({ version: '0.4.0', commit: 'f00d' });
  });

  it('reports "unknown" for code with no build-info.json above it, or a field the file lacks', () => {
    expect(readBuildInfo(root)).toEqual({ version: 'unknown', commit: 'unknown' });
    writeFileSync(join(root, BUILD_INFO_FILE), JSON.stringify({ version: '0.4.0' }));
    expect(readBuildInfo(root)).toEqual({ version: '0.4.0', commit: 'unknown' });
  });
});
