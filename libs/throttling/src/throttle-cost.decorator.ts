import { SetMetadata } from '@nestjs/common';
import { SkipThrottle } from '@nestjs/throttler';
import { RATE_LIMIT_POLICIES } from './rate-limit-policies';

export const THROTTLE_COST = 'mailgateway:throttle-cost';

export type ThrottleCostFunction = (request: never) => number;

/** How many messages a call counts as (default 1), e.g. a batch's number of items. */
export const ThrottleCost = <Request>(cost: (request: Request) => number) => SetMetadata(THROTTLE_COST, cost);

/** Exempts a call from every message limit (reads and admin calls send no mail). */
export const NoRateLimit = () =>
  SkipThrottle(Object.fromEntries(RATE_LIMIT_POLICIES.map(({ name }) => [name, true])));
