import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';

// The image installs production dependencies only (npm ci --omit=dev): every package that code
// under apps/ and libs/ loads at run time must be in "dependencies", or the gateway cannot start.
const ROOT = join(__dirname, '..');
const SPEC = /\.(spec|integration-spec|e2e-spec)\.ts$/;

function productionSources(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory())
      return relative(ROOT, path) === join('libs', 'testing') ? [] : productionSources(path);
    return entry.name.endsWith('.ts') && !SPEC.test(entry.name) ? [path] : [];
  });
}

/** Packages a file loads at run time: value imports, re-exports and require(); type-only imports are erased. */
function loadedPackages(source: string): string[] {
  const specifiers = [
    ...source.matchAll(/^\s*(?:import|export)\s+(?!type\s)[^'"]*?from\s+'([^']+)'/gm),
    ...source.matchAll(/^\s*import\s+'([^']+)'/gm),
    ...source.matchAll(/\brequire\('([^']+)'\)/g),
  ].map((match) => match[1]);
  return specifiers
    .filter((specifier) => !specifier.startsWith('.') && !specifier.startsWith('@mailgateway/'))
    .map((specifier) =>
      (specifier.startsWith('@') ? specifier.split('/').slice(0, 2) : specifier.split('/').slice(0, 1)).join(
        '/',
      ),
    )
    .filter((name) => !name.startsWith('node:') && !builtinModules.includes(name));
}

describe('production dependencies', () => {
  const { dependencies } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  const sources = ['apps', 'libs'].flatMap((folder) => productionSources(join(ROOT, folder)));

  it('reads the production sources of every app and lib', () => {
    expect(sources.map((path) => relative(ROOT, path))).toEqual(
      expect.arrayContaining(['apps/gateway/src/main.ts', 'libs/delivery/src/mime/mime-renderer.ts']),
    );
    expect(sources.some((path) => path.includes(join('libs', 'testing')))).toBe(false);
  });

  it('lists every package production code loads in "dependencies"', () => {
    const missing = sources.flatMap((path) =>
      loadedPackages(readFileSync(path, 'utf8'))
        .filter((name) => !(name in dependencies))
        .map((name) => `${relative(ROOT, path)} loads ${name}`),
    );
    expect(missing).toEqual([]);
  });
});
