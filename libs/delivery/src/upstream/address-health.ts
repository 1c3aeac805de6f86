/**
 * Circuit state of one upstream address. After a failure it cools down for a while that doubles
 * with every further failure; once the cool-down ends it admits one probing request at a time
 * until a request succeeds.
 */
export class AddressHealth {
  private consecutiveFailures = 0;
  private coolUntil = 0;
  private probing = false;

  constructor(
    private readonly cooldownMs: number,
    private readonly maxCooldownMs: number,
  ) {}

  get healthy(): boolean {
    return this.consecutiveFailures === 0;
  }

  /** When the cool-down ends (0 for a healthy address). */
  get coolingUntil(): number {
    return this.healthy ? 0 : this.coolUntil;
  }

  /** Whether a request may go to this address now; a failing address lets one probe through. */
  admits(now: number): boolean {
    if (this.consecutiveFailures === 0) return true;
    if (now < this.coolUntil || this.probing) return false;
    this.probing = true;
    return true;
  }

  succeeded(): void {
    this.consecutiveFailures = 0;
    this.probing = false;
  }

  failed(now: number): void {
    this.consecutiveFailures++;
    this.probing = false;
    const cooldown = Math.min(
      this.maxCooldownMs,
      this.cooldownMs * 2 ** Math.min(this.consecutiveFailures - 1, 20),
    );
    this.coolUntil = now + cooldown;
  }
}
