import type { CpuPerCall } from './cpu-meter';

/** One line of the benchmark's table. */
export interface Row {
  readonly measure: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline?: { readonly name: string; readonly value: number };
  /** Minimum ratio (value / baseline) or maximum/minimum absolute value the design aims for. */
  readonly target?: { readonly kind: 'ratio-at-least' | 'at-least' | 'at-most'; readonly value: number };
  readonly detail?: string;
  /** CPU of the process under load and of the local PostgreSQL, per call (or message). */
  readonly cpu?: CpuPerCall;
}
