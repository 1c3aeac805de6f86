import Redis from 'ioredis';
import type { ConnectionDecision, FleetView } from './fair-share';
import type {
  FleetTimings,
  HoldingReport,
  PermitDecision,
  UpstreamBudgetStore,
} from './upstream-budget-store.interface';

/**
 * The fair-share rule of fair-share.ts, in one script per call so replicas never race between
 * reading the holdings and raising their own. Time is Redis's own clock (TIME), so replicas'
 * clocks do not matter. Per host: a hash of holdings, a sorted set of heartbeat expiries and one
 * of "waiting" marks, all expiring together when the host is no longer used.
 *
 * ARGV: replica, held, budget, heartbeat TTL, rotation, waiting mark's life, mode
 * ("request" | "report" | "leave"), waiting ("1" | "0").
 * Returns {granted, share, replicas, total}.
 */
const HOLDINGS_SCRIPT = `
local held_key, alive_key, wanting_key = KEYS[1], KEYS[2], KEYS[3]
local replica = ARGV[1]
local held = tonumber(ARGV[2])
local budget = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local rotation = tonumber(ARGV[5])
local wanting_ms = tonumber(ARGV[6])
local mode = ARGV[7]
local waiting = ARGV[8] == '1'
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

for _, gone in ipairs(redis.call('ZRANGEBYSCORE', alive_key, '-inf', now)) do
  redis.call('HDEL', held_key, gone)
  redis.call('ZREM', wanting_key, gone)
end
redis.call('ZREMRANGEBYSCORE', alive_key, '-inf', now)
if mode == 'leave' then
  redis.call('ZREM', alive_key, replica)
  redis.call('HDEL', held_key, replica)
  redis.call('ZREM', wanting_key, replica)
  return {0, 0, 0, 0}
end
redis.call('ZADD', alive_key, now + ttl, replica)
redis.call('HSET', held_key, replica, held)

local members = redis.call('ZRANGE', alive_key, 0, -1)
table.sort(members)
local n = #members
local epoch = math.floor(now / rotation)
local total, share, owed = 0, 0, false
for index, member in ipairs(members) do
  local rank = (index - 1 + epoch) % n
  local due = math.floor(budget / n)
  if rank < budget % n then due = due + 1 end
  local holds = tonumber(redis.call('HGET', held_key, member) or '0')
  total = total + holds
  if member == replica then
    share = due
  else
    local until_ms = tonumber(redis.call('ZSCORE', wanting_key, member) or '0')
    if until_ms > now and holds < due then owed = true end
  end
end

local granted = 0
if mode == 'request' then
  if total < budget and (held < share or not owed) then
    granted = 1
    total = total + 1
    redis.call('HSET', held_key, replica, held + 1)
  end
  if granted == 1 and not waiting then
    redis.call('ZREM', wanting_key, replica)
  else
    redis.call('ZADD', wanting_key, now + wanting_ms, replica)
  end
elseif waiting then
  redis.call('ZADD', wanting_key, now + wanting_ms, replica)
else
  redis.call('ZREM', wanting_key, replica)
end
for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, ttl * 2) end
return {granted, share, n, total}
`;

/**
 * The next send slot of a host's message rate: a schedule in microseconds (GCRA), so any number
 * of replicas take slots one interval apart. A slot further away than the caller may wait is not
 * taken. ARGV: interval (µs), longest wait (ms). Returns {wait ms, 0} or {-1, ms until the slot}.
 */
const PERMIT_SCRIPT = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
local wait = math.ceil((slot - now) / 1000)
if wait > max_wait then return {-1, wait} end
local next_slot = slot + interval
redis.call('SET', KEYS[1], string.format('%.0f', next_slot), 'PX', math.ceil((next_slot - now) / 1000) + 1000)
return {wait, 0}
`;

export interface RedisBudgetOptions {
  readonly url: string;
  readonly keyPrefix: string;
  readonly commandTimeoutMs: number;
}

type Reply = [number, number, number, number];

type RedisWithBudget = Redis & {
  upstreamHoldings(
    heldKey: string,
    aliveKey: string,
    wantingKey: string,
    ...args: (string | number)[]
  ): Promise<Reply>;
  upstreamPermit(key: string, intervalMicros: number, maxWaitMs: number): Promise<[number, number]>;
};

/** The budget in Redis, shared by every replica: one EVALSHA per call. */
export class RedisUpstreamBudgetStore implements UpstreamBudgetStore {
  readonly kind = 'redis';
  private readonly redis: RedisWithBudget;

  constructor(
    options: RedisBudgetOptions,
    private readonly timings: FleetTimings,
  ) {
    this.redis = new Redis(options.url, {
      keyPrefix: options.keyPrefix,
      // Fail fast while disconnected: the caller falls back to its own share at once.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs,
      connectTimeout: Math.max(1_000, options.commandTimeoutMs),
      retryStrategy: (times) => Math.min(times * 100, 2_000),
      lazyConnect: true,
    }) as RedisWithBudget;
    this.redis.defineCommand('upstreamHoldings', { numberOfKeys: 3, lua: HOLDINGS_SCRIPT });
    this.redis.defineCommand('upstreamPermit', { numberOfKeys: 1, lua: PERMIT_SCRIPT });
    // Failures surface on each call, where the caller falls back; the client itself keeps quiet.
    this.redis.on('error', () => undefined);
  }

  /** Connects before the first call; an unreachable Redis at start is handled like one lost later. */
  async connect(): Promise<void> {
    await this.redis.connect().catch(() => undefined);
  }

  async requestConnection(report: HoldingReport): Promise<ConnectionDecision> {
    const [granted, share, replicas, total] = await this.holdings(report, 'request');
    return { granted: granted === 1, share, replicas, total };
  }

  async report(report: HoldingReport): Promise<FleetView> {
    const [, share, replicas, total] = await this.holdings(report, 'report');
    return { share, replicas, total };
  }

  async leave(host: string, replica: string): Promise<void> {
    await this.holdings({ host, replica, held: 0, budget: 1, waiting: false }, 'leave');
  }

  async reservePermit(host: string, intervalMicros: number, maxWaitMs: number): Promise<PermitDecision> {
    const [wait, retryAfterMs] = await this.redis.upstreamPermit(
      `budget:{${host}}:next-send`,
      Math.max(1, Math.round(intervalMicros)),
      maxWaitMs,
    );
    return wait < 0 ? { retryAfterMs } : { waitMs: wait };
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }

  private holdings(report: HoldingReport, mode: 'request' | 'report' | 'leave'): Promise<Reply> {
    // One hash tag per host: the keys of a host live on one Redis Cluster slot.
    const key = (what: string) => `budget:{${report.host}}:${what}`;
    const { heartbeatTtlMs, rotationMs, wantingMs } = this.timings;
    return this.redis.upstreamHoldings(
      key('held'),
      key('alive'),
      key('wanting'),
      report.replica,
      report.held,
      report.budget,
      heartbeatTtlMs,
      rotationMs,
      wantingMs,
      mode,
      report.waiting ? '1' : '0',
    );
  }
}
