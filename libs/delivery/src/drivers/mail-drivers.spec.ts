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
    const callers = specs.filter((file) =>
      /describeMailDriverContract\(\{\s*definition: \w+/.test(readFileSync(join(folder, file), 'utf8')),
    );
    expect(callers).toEqual([`${name}.driver.spec.ts`]);
  });

  it('keeps every driver in a folder of its own, listed here', () => {
    const folders = readdirSync(__dirname, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && entry.name !== 'kit')
      .map((entry) => entry.name)
      .sort();
    expect(folders).toEqual(MAIL_DRIVERS.map(({ name }) => name).sort());
  });
});
