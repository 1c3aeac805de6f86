import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { settings } from './settings';
import { renderSettingsTable } from './settings-table';

describe(renderSettingsTable.name, () => {
  it('lists every setting with its default', () => {
    const table = renderSettingsTable();
    for (const name of Object.keys(settings)) expect(table).toContain(`| \`${name}\` |`);
    expect(table).toContain('| `GRPC_PORT` | `50051` |');
    expect(table).toContain('| `DATABASE_URL` | unset |');
  });

  it('matches the table in the README (regenerate with `npm run docs:settings`)', () => {
    const readme = readFileSync(join(__dirname, '../../../README.md'), 'utf8');
    const section = readme.split('<!-- settings:start -->')[1]?.split('<!-- settings:end -->')[0];
    expect(section?.trim()).toBe(renderSettingsTable());
  });
});
