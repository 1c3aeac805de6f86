// The batch accept ceiling: the rows a SendMailBatch of `size` stores (its messages and their
// ACCEPTED events), inserted by plain `pg` in one statement per batch, each its own transaction,
// by `parallel` inserters back to back for the run's duration.
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { CpuMeter, CpuPerCall } from './cpu-meter';
import { aBenchMessage } from './grpc-client';
import {
  INSERT_MESSAGES_AND_ACCEPTED_EVENTS,
  MailFields,
  messageColumnArrays,
  messageValues,
} from './outbox-rows';

export async function insertBatches({
  databaseUrl,
  size,
  parallel,
  durationMs,
}: {
  databaseUrl: string;
  size: number;
  parallel: number;
  durationMs: number;
}): Promise<{ messages: number; seconds: number; cpu: CpuPerCall }> {
  const clients = await Promise.all(
    Array.from({ length: parallel }, async () => {
      const client = new Client({ connectionString: databaseUrl, options: '-c synchronous_commit=on' });
      await client.connect();
      return client;
    }),
  );
  let messages = 0;
  // Measured while the connections are open, so that their backends count.
  const meter = new CpuMeter(process.pid, databaseUrl);
  const started = performance.now();
  try {
    await Promise.all(
      clients.map(async (client) => {
        while (performance.now() - started < durationMs) {
          const now = Date.now();
          const rows = Array.from({ length: size }, () => {
            const { mail, idempotencyKey } = aBenchMessage();
            return messageValues(mail as MailFields, idempotencyKey, now);
          });
          await client.query(INSERT_MESSAGES_AND_ACCEPTED_EVENTS, messageColumnArrays(rows));
          messages += size;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    return { messages, seconds, cpu: meter.perCall(messages) };
  } finally {
    await Promise.all(clients.map((client) => client.end()));
  }
}
