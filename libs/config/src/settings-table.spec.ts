import { z } from 'zod';
import { defineConfig } from './config-slice';
import { integer, setting } from './setting';
import { renderSettingsTable } from './settings-table';

describe(renderSettingsTable.name, () => {
  it('lists every setting of every slice in order, with its default and secrets marked', () => {
    const first = defineConfig({
      name: 'first',
      settings: { PORT: setting({ description: 'The port.', schema: integer(0, 65535).default(50051) }) },
      build: () => ({}),
    });
    const second = defineConfig({
      name: 'second',
      settings: {
        URL: setting({ description: 'Where.', schema: z.string().optional(), sensitive: true }),
      },
      build: () => ({}),
    });
    expect(renderSettingsTable([first, second]).split('\n')).toEqual([
      '| Variable | Default | What it does |',
      '| --- | --- | --- |',
      '| `PORT` | `50051` | The port. |',
      '| `URL` | unset | Where. Secret: never printed. |',
    ]);
  });
});
