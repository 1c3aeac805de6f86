import { settings } from './settings';

/** The settings as a Markdown table, for the README: generated, so it cannot drift from the schema. */
export function renderSettingsTable(): string {
  const rows = Object.entries(settings).map(([name, { description, schema, sensitive }]) => {
    const fallback = schema.safeParse(undefined);
    const shown = fallback.success && fallback.data !== undefined ? `\`${String(fallback.data)}\`` : 'unset';
    return `| \`${name}\` | ${shown} | ${description}${sensitive ? ' Secret: never printed.' : ''} |`;
  });
  return ['| Variable | Default | What it does |', '| --- | --- | --- |', ...rows].join('\n');
}
