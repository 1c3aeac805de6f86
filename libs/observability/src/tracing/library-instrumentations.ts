import type { TracerProvider } from '@opentelemetry/api';
import { Instrumentation, registerInstrumentations } from '@opentelemetry/instrumentation';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';

/** The process's hooks into pg, ioredis and undici, once instrumentLibraries() has run. */
let hooked: Instrumentation[] | null = null;

/**
 * Hooks pg, ioredis and undici so their queries and requests become spans. Call it before pg and
 * ioredis are first required: their require hooks only see modules loaded after them. Nothing is
 * recorded until an enabled Tracing attaches its provider; a disabled one unhooks them again.
 *
 * Only queries and requests made inside a traced call or delivery attempt get a span: the delivery
 * loop's polling, health checks and scrapes would otherwise each start a trace of their own.
 */
export function instrumentLibraries(): void {
  hooked ??= [
    new PgInstrumentation({
      requireParentSpan: true,
      // The SQL text (placeholders only) is recorded; parameter values never are: they hold mail.
      enhancedDatabaseReporting: false,
    }),
    new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: redisStatement }),
    new UndiciInstrumentation({ requireParentforSpans: true, startSpanHook: withoutQuery }),
  ];
}

/** Sends the hooked libraries' spans to `provider`; returns how to stop. A no-op if none are hooked. */
export function attachLibraryInstrumentations(provider: TracerProvider): () => void {
  if (!hooked) return () => undefined;
  const detach = registerInstrumentations({ instrumentations: hooked, tracerProvider: provider });
  // registerInstrumentations enables only those configured off; these may have been disabled since.
  for (const instrumentation of hooked) instrumentation.enable();
  return detach;
}

/** Unhooks the libraries: a gateway without tracing pays nothing for the hooks. */
export function detachLibraryInstrumentations(): void {
  for (const instrumentation of hooked ?? []) instrumentation.disable();
}

/**
 * A Redis command as a span records it: the command, and for scripts their keys, never an argument
 * (AUTH's is a password, the others are values).
 */
export function redisStatement(command: string, args: readonly unknown[]): string {
  const name = command.toUpperCase();
  if ((name === 'EVALSHA' || name === 'EVAL') && args.length >= 2) {
    const keyCount = Number(args[1]);
    const keys = Number.isInteger(keyCount) ? args.slice(2, 2 + keyCount) : [];
    return [name, ...keys.map(String)].join(' ');
  }
  return name;
}

/** A provider URL's query may carry a credential: spans keep the origin and path only. */
export function withoutQuery(request: { origin: string | URL; path: string }): Record<string, string> {
  const url = new URL(request.path, request.origin);
  if (url.search === '') return {};
  url.search = '';
  return { 'url.full': url.toString(), 'url.query': 'REDACTED' };
}
