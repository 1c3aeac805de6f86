interface Waiting<Item, Result> {
  readonly items: readonly Item[];
  readonly resolve: (results: Result[]) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Commits the work of concurrent callers together: requests that arrive while a commit is under
 * way share the next transaction (and its one fsync). Every caller hears back only after the
 * commit that holds its items, and a failed commit fails every caller in it: nobody is told OK
 * for something not committed.
 */
export class GroupCommit<Item, Result> {
  private readonly waiting: Waiting<Item, Result>[] = [];
  private waitingItems = 0;
  private running = 0;

  /**
   * `queueLimit`, when given, bounds the items waiting for a commit: a caller that would go past
   * it is refused at once with the error `refuse` makes, and nothing of it is committed.
   */
  constructor(
    private readonly commit: (items: Item[]) => Promise<Result[]>,
    private readonly parallelCommits: number,
    private readonly maxItemsPerCommit: number,
    private readonly queueLimit?: { readonly items: number; readonly refuse: (waiting: number) => Error },
  ) {}

  /** Throws the queue limit's error if `count` more items would be refused now. */
  admit(count: number): void {
    // An empty queue takes any caller, so a batch larger than the limit can still pass alone.
    if (this.queueLimit && this.waitingItems > 0 && this.waitingItems + count > this.queueLimit.items) {
      throw this.queueLimit.refuse(this.waitingItems);
    }
  }

  submit(items: readonly Item[]): Promise<Result[]> {
    try {
      this.admit(items.length);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ items, resolve, reject });
      this.waitingItems += items.length;
      this.startCommits();
    });
  }

  private startCommits(): void {
    while (this.running < this.parallelCommits && this.waiting.length > 0) {
      const group = this.takeGroup();
      this.running++;
      this.commit(group.flatMap((caller) => caller.items))
        .then(
          (results) => {
            let offset = 0;
            for (const caller of group) {
              caller.resolve(results.slice(offset, offset + caller.items.length));
              offset += caller.items.length;
            }
          },
          (error: unknown) => group.forEach((caller) => caller.reject(error)),
        )
        .finally(() => {
          this.running--;
          this.startCommits();
        });
    }
  }

  /** The oldest callers, up to the item cap; a single large caller goes alone. */
  private takeGroup(): Waiting<Item, Result>[] {
    const group = [this.waiting.shift()!];
    let size = group[0].items.length;
    while (this.waiting.length > 0 && size + this.waiting[0].items.length <= this.maxItemsPerCommit) {
      size += this.waiting[0].items.length;
      group.push(this.waiting.shift()!);
    }
    this.waitingItems -= size;
    return group;
  }
}
