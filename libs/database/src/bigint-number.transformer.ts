import { ValueTransformer } from 'typeorm';

/** Reads a bigint column as a number: pg returns bigint as a string. Times are epoch milliseconds. */
export const bigintAsNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | number | null) => (value === null ? null : Number(value)),
};
