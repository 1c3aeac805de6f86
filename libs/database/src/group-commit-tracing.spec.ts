import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { GroupCommit } from './group-commit';

describe(`${GroupCommit.name} traced`, () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('test');

  beforeAll(() => {
    trace.setGlobalTracerProvider(provider);
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  });
  afterAll(async () => {
    await provider.shutdown();
    trace.disable();
    context.disable();
  });

  it("runs a shared commit under the oldest caller's span, linked both ways with every caller", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const activeDuringCommit: (string | undefined)[] = [];
    const sut = new GroupCommit<string, string>(
      async (items) => {
        activeDuringCommit.push(trace.getActiveSpan()?.spanContext().spanId);
        if (items.includes('blocker')) await gate;
        return items;
      },
      1,
      100,
      'wait',
    );
    // The first commit holds the only slot, so the next two callers share the second commit.
    const blocker = sut.submit(['blocker']);
    const callA = tracer.startSpan('call A');
    const callB = tracer.startSpan('call B');
    const a = context.with(trace.setSpan(context.active(), callA), () => sut.submit(['a']));
    const b = context.with(trace.setSpan(context.active(), callB), () => sut.submit(['b']));
    release();
    await Promise.all([blocker, a, b]);

    const spans = exporter.getFinishedSpans();
    const [waitA, waitB] = [callA, callB].map((call) =>
      spans.find(
        (span) => span.name === 'wait' && span.parentSpanContext?.spanId === call.spanContext().spanId,
      ),
    );
    const shared = spans.find(
      (span) => span.name === 'group commit' && span.attributes['mailgateway.callers'] === 2,
    );
    expect(shared?.parentSpanContext?.spanId).toBe(waitA?.spanContext().spanId);
    expect(shared?.links.map((link) => link.context.spanId)).toEqual(
      [waitA, waitB].map((wait) => wait?.spanContext().spanId),
    );
    expect(waitB?.links.map((link) => link.context.spanId)).toEqual([shared?.spanContext().spanId]);
    // The commit's own work (its queries) runs with the commit span active, not a caller's.
    expect(activeDuringCommit[1]).toBe(shared?.spanContext().spanId);
  });
});
