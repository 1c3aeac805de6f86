import type { ConfigSlice } from './config-slice';

/** The settings of `slices` as a Markdown table, for the README: generated, so it cannot drift. */
export function renderSettingsTable(slices: readonly ConfigSlice[]): string {
  const rows = slices.flatMap((slice) =>
    Object.entries(slice.settings).map(([name, { description, schema, sensitive }]) => {
      const fallback = schema.safeParse(undefined);
      const shown =
        fallback.success && fallback.data !== undefined ? `\`${String(fallback.data)}\`` : 'unset';
      return `| \`${name}\` | ${shown} | ${description}${sensitive ? ' Secret: never printed.' : ''} |`;
    }),
  );
  return ['| Variable | Default | What it does |', '| --- | --- | --- |', ...rows].join('\n');
}
