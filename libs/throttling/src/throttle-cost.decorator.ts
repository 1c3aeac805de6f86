import { SetMetadata } from '@nestjs/common';
import { SkipThrottle } from '@nestjs/throttler';

export const THROTTLE_COST = 'mailgateway:throttle-cost';

export type ThrottleCostFunction = (request: never) => number;

/** How many messages a call counts as (default 1), e.g. a batch's number of items. */
export const ThrottleCost = <Request>(cost: (request: Request) => number) => SetMetadata(THROTTLE_COST, cost);

/** The limit names the gateway defines; also the names in RESOURCE_EXHAUSTED messages. */
export const RATE_LIMIT_NAMES = ['source', 'global'] as const;

/** Exempts a call from every message limit (reads and admin calls send no mail). */
export const NoRateLimit = () =>
  SkipThrottle(Object.fromEntries(RATE_LIMIT_NAMES.map((name) => [name, true])));
