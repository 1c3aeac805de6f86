import type { Provider } from '@nestjs/common';
import type { ConfigSlice } from './config-slice';
import { ConfigurationException } from './configuration.exception';
import type { Setting, Settings } from './setting';

/** The validated configuration of a process: one built object per slice. */
export class LoadedConfig {
  private constructor(private readonly built: ReadonlyMap<symbol, unknown>) {}

  /**
   * Reads and validates every setting of `slices` from `env` at once; throws a ConfigurationException
   * naming each bad variable (never showing a sensitive value).
   */
  static load(slices: readonly ConfigSlice[], env: NodeJS.ProcessEnv = process.env): LoadedConfig {
    const catalog = new Map<string, { setting: Setting<unknown>; value: unknown }>();
    const names = new Set<string>();
    const problems: string[] = [];
    for (const slice of slices) {
      for (const [name, setting] of Object.entries(slice.settings)) {
        if (names.has(name)) throw new Error(`${name} is declared by two config slices`);
        names.add(name);
        const result = parse(name, setting, env);
        if ('problem' in result) problems.push(result.problem);
        else catalog.set(name, { setting, value: result.value });
      }
    }
    if (problems.length > 0) throw new ConfigurationException(problems);
    const values = (slice: ConfigSlice) =>
      Object.fromEntries(Object.keys(slice.settings).map((name) => [name, catalog.get(name)!.value]));
    for (const slice of slices) problems.push(...(slice.check?.(values(slice), catalog) ?? []));
    if (problems.length > 0) throw new ConfigurationException(problems);
    return new LoadedConfig(new Map(slices.map((slice) => [slice.token, slice.build(values(slice))])));
  }

  /** The object `slice` built; throws if the slice was not loaded. */
  get<S extends Settings, C>(slice: ConfigSlice<S, C>): C {
    if (!this.built.has(slice.token)) throw new Error(`config slice "${slice.name}" was not loaded`);
    return this.built.get(slice.token) as C;
  }

  /** One provider per slice, under the slice's token. */
  providers(): Provider[] {
    return [...this.built].map(([token, value]) => ({ provide: token, useValue: value }));
  }
}

/** One slice on its own, checks included: for tools and tests that need a single lib's settings. */
export function loadConfigSlice<S extends Settings, C>(
  slice: ConfigSlice<S, C>,
  env: NodeJS.ProcessEnv = process.env,
): C {
  return LoadedConfig.load([slice as unknown as ConfigSlice], env).get(slice);
}

function parse(
  name: string,
  { schema, sensitive }: Setting<unknown>,
  env: NodeJS.ProcessEnv,
): { value: unknown } | { problem: string } {
  // An empty variable counts as unset, as in most shells' `VAR= command`.
  const raw = env[name] === '' ? undefined : env[name];
  const result = schema.safeParse(raw);
  if (result.success) return { value: result.data };
  const shown = sensitive || raw === undefined ? '' : ` (got ${JSON.stringify(raw)})`;
  return { problem: `${name}: ${result.error.issues.map((issue) => issue.message).join('; ')}${shown}` };
}
