/**
 * The suite runs shortened in `npm test` and at full size with RELIABILITY_FULL=1
 * (`npm run test:reliability`). Each scenario states both sizes side by side.
 */
export const RELIABILITY_FULL = process.env.RELIABILITY_FULL === '1';

export function sized<T>(short: T, full: T): T {
  return RELIABILITY_FULL ? full : short;
}
