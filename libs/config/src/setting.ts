import { z } from 'zod';

/** One environment variable: how it is parsed, its default, and what it does (for the docs). */
export interface Setting<T> {
  readonly description: string;
  readonly schema: z.ZodType<T>;
  /** Never printed, not even in a validation error. */
  readonly sensitive?: boolean;
  /** The URL of an upstream the gateway calls: refused on local addresses unless allowed. */
  readonly upstreamUrl?: boolean;
}

export type Settings = Readonly<Record<string, Setting<unknown>>>;

/** The parsed value of each setting of a group. */
export type SettingValues<S extends Settings> = {
  readonly [K in keyof S]: S[K] extends Setting<infer T> ? T : never;
};

export const setting = <T>(definition: Setting<T>): Setting<T> => definition;

/** A whole number from min to max. */
export const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** "true" or "false", nothing else. */
export const boolean = z.enum(['true', 'false']).transform((value) => value === 'true');

export const MEBIBYTE = 1024 * 1024;
