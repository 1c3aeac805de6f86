import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAIL_DRIVERS } from './mail-drivers';

describe('MAIL_DRIVERS', () => {
  it('names each driver once', () => {
    const names = MAIL_DRIVERS.map(({ name }) => name);
    expect(new Set(names).size).toBe(names.length);
  });

  it.each(MAIL_DRIVERS.map(({ name }) => name))('runs the mail driver contract against %s', (name) => {
    // A driver's folder holds its spec, and the spec runs the contract on the registered entry.
    const folder = join(__dirname, name);
    const specs = readdirSync(folder).filter((file) => file.endsWith('.spec.ts'));
    const callers = specs.filter((file) => {
      const source = readFileSync(join(folder, file), 'utf8');
      // The entry the contract gets is the one the folder's index exports, i.e. the registered one.
      const definition = /describeMailDriverContract\(\{\s*definition: (\w+)/.exec(source)?.[1];
      return definition !== undefined && new RegExp(`import \\{ ${definition} \\} from '\\.';`).test(source);
    });
    expect(callers).toEqual([`${name}.driver.spec.ts`]);
    expect(MAIL_DRIVERS.find((entry) => entry.name === name)).toBe(
      Object.values(require(folder) as Record<string, unknown>).find(
        (value) => (value as { name?: unknown }).name === name && 'driver' in (value as object),
      ),
    );
  });

  it('keeps every driver in a folder of its own, listed here', () => {
    const folders = readdirSync(__dirname, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && entry.name !== 'kit')
      .map((entry) => entry.name)
      .sort();
    expect(folders).toEqual(MAIL_DRIVERS.map(({ name }) => name).sort());
  });
});
