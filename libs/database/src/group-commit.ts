import { context, Context, Span, SpanStatusCode, trace } from '@opentelemetry/api';

interface Waiting<Item, Result> {
  readonly items: readonly Item[];
  /** The caller's span from submit to its answer, a child of whatever was active then. */
  readonly span: Span;
  readonly context: Context;
  readonly resolve: (results: Result[]) => void;
  readonly reject: (error: unknown) => void;
}

/** The global tracer: a no-op until the gateway's tracing registers its provider. */
const tracer = trace.getTracer('mailgateway');

/**
 * Commits the work of concurrent callers together: requests that arrive while a commit is under
 * way share the next transaction (and its one fsync). Every caller hears back only after the
 * commit that holds its items, and a failed commit fails every caller in it: nobody is told OK
 * for something not committed.
 *
 * Traced, each caller has a span `spanName` for its wait, and each commit a span of its own whose
 * database queries are its children. A commit serves several callers but has one parent: the
 * oldest caller's span, so a lone caller (the usual case) sees its commit inline. The commit links
 * to every caller's span and each caller's span links back to the commit it was in.
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
    private readonly spanName: string,
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
    const span = tracer.startSpan(this.spanName, { attributes: { 'mailgateway.items': items.length } });
    const callerContext = trace.setSpan(context.active(), span);
    return new Promise<Result[]>((resolve, reject) => {
      this.waiting.push({
        items,
        span,
        context: callerContext,
        resolve: (results) => {
          span.end();
          resolve(results);
        },
        reject: (error) => {
          span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.name ?? 'error' });
          span.end();
          reject(error);
        },
      });
      this.waitingItems += items.length;
      this.startCommits();
    });
  }

  private startCommits(): void {
    while (this.running < this.parallelCommits && this.waiting.length > 0) {
      const group = this.takeGroup();
      this.running++;
      this.traced(group, () => this.commit(group.flatMap((caller) => caller.items)))
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

  /** Runs a group's commit in its own span (see the class comment), whatever context is active now. */
  private traced(group: Waiting<Item, Result>[], work: () => Promise<Result[]>): Promise<Result[]> {
    const span = tracer.startSpan(
      'group commit',
      {
        attributes: {
          'mailgateway.callers': group.length,
          'mailgateway.items': group.reduce((sum, caller) => sum + caller.items.length, 0),
        },
        links: group.map((caller) => ({ context: caller.span.spanContext() })),
      },
      group[0].context,
    );
    for (const caller of group.slice(1)) caller.span.addLink({ context: span.spanContext() });
    return context.with(trace.setSpan(group[0].context, span), work).then(
      (results) => {
        span.end();
        return results;
      },
      (error: unknown) => {
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.name ?? 'error' });
        span.end();
        throw error;
      },
    );
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
