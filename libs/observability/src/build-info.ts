import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface BuildInfo {
  /** package.json's version. */
  readonly version: string;
  /** The git commit the build came from, or "unknown". */
  readonly commit: string;
}

/** Written by `npm run build` (scripts/write-build-info.js) at the root of dist/. */
export const BUILD_INFO_FILE = 'build-info.json';

const UNKNOWN: BuildInfo = { version: 'unknown', commit: 'unknown' };
let cached: BuildInfo | undefined;

/**
 * What the running code was built from: the build-info.json of the dist/ folder it runs from.
 * Code run from its sources (tests) has none and reports "unknown".
 */
export function buildInfo(): BuildInfo {
  return (cached ??= readBuildInfo(__dirname));
}

export function readBuildInfo(from: string): BuildInfo {
  for (let folder = from; ; folder = dirname(folder)) {
    const file = join(folder, BUILD_INFO_FILE);
    if (existsSync(file)) {
      const { version, commit } = JSON.parse(readFileSync(file, 'utf8')) as Partial<BuildInfo>;
      return { version: version || UNKNOWN.version, commit: commit || UNKNOWN.commit };
    }
    if (dirname(folder) === folder) return UNKNOWN;
  }
}
