import { OnModuleDestroy } from '@nestjs/common';
import { RateLimitRecord, RateLimitStorage, rateLimitRecord } from './rate-limit-storage.interface';

interface Window {
  hits: number;
  endsAt: number;
}

const SWEEP_INTERVAL_MS = 60_000;

/**
 * Counters for one process: a map of fixed windows, O(1) per call whatever the window's length
 * (the throttler's own storage keeps a timestamp per hit). Expired windows are swept once a minute.
 */
export class MemoryRateLimitStorage implements RateLimitStorage, OnModuleDestroy {
  private readonly windows = new Map<string, Window>();
  private readonly sweeper = setInterval(() => this.sweep(Date.now()), SWEEP_INTERVAL_MS).unref();

  constructor(private readonly clock: () => number = Date.now) {}

  async increment(
    key: string,
    ttl: number,
    limit: number,
    _blockDuration: number,
    _throttlerName: string,
    cost = 1,
  ): Promise<RateLimitRecord> {
    const now = this.clock();
    let window = this.windows.get(key);
    if (!window || window.endsAt <= now) {
      window = { hits: 0, endsAt: now + ttl };
      this.windows.set(key, window);
    }
    if (window.hits + cost > limit) return rateLimitRecord(window.hits, window.endsAt - now, true);
    window.hits += cost;
    return rateLimitRecord(window.hits, window.endsAt - now, false);
  }

  get size(): number {
    return this.windows.size;
  }

  sweep(now: number): void {
    for (const [key, window] of this.windows) if (window.endsAt <= now) this.windows.delete(key);
  }

  onModuleDestroy(): void {
    clearInterval(this.sweeper);
  }
}
