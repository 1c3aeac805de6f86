import { Inject } from '@nestjs/common';
import { Setting, Settings, SettingValues } from './setting';

/** Every setting of every slice with its parsed value, for checks that span slices. */
export type SettingsCatalog = ReadonlyMap<
  string,
  { readonly setting: Setting<unknown>; readonly value: unknown }
>;

/**
 * The settings one library owns, and the typed object it receives built from them. A library
 * declares its slice beside its code and injects only that (`@InjectConfig(outboxConfig)`); the
 * app lists the slices it runs with, and they are validated together at start.
 */
export interface ConfigSlice<S extends Settings = Settings, C = unknown> {
  /** What owns these settings, e.g. "outbox" or "sendgrid driver". */
  readonly name: string;
  readonly settings: S;
  /** The DI token under which the built object is provided. */
  readonly token: symbol;
  build(values: SettingValues<S>): C;
  /** Problems of settings that depend on each other, as "VARIABLE: what is wrong". */
  check?(values: SettingValues<S>, catalog: SettingsCatalog): string[];
}

export function defineConfig<S extends Settings, C>(definition: {
  readonly name: string;
  readonly settings: S;
  readonly build: (values: SettingValues<S>) => C;
  readonly check?: (values: SettingValues<S>, catalog: SettingsCatalog) => string[];
}): ConfigSlice<S, C> {
  return { ...definition, token: Symbol(`config: ${definition.name}`) };
}

/** Injects the object built by `slice`. */
export const InjectConfig = (slice: ConfigSlice<Settings, unknown>) => Inject(slice.token);
