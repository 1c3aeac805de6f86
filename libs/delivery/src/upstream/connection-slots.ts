/** A hard cap on open connections: one slot per socket, handed out in arrival order. */
export class ConnectionSlots {
  private used = 0;
  private readonly waiting: { resolve: (release: () => void) => void; reject: (error: Error) => void }[] = [];
  private closedWith: Error | null = null;

  constructor(private readonly limit: number) {}

  get inUse(): number {
    return this.used;
  }

  /** Resolves with the slot's release once a connection may open. */
  acquire(): Promise<() => void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (this.used < this.limit) return Promise.resolve(this.take());
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  /** Refuses every waiting and later request for a slot. */
  close(error: Error): void {
    this.closedWith = error;
    for (const waiter of this.waiting.splice(0)) waiter.reject(error);
  }

  private take(): () => void {
    this.used++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used--;
      const next = this.waiting.shift();
      if (next) next.resolve(this.take());
    };
  }
}
