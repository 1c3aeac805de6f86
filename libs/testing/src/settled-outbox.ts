import type { DataSource } from 'typeorm';
import { LedgerFigures, OutcomeLedger } from './outcome-ledger';
import { readSandboxLog } from './upstream-log';
import { waitFor } from './wait-for';

/** The ledger's figures against every delivery the sandbox driver wrote to `sandboxLog`. */
export async function sandboxFigures(ledger: OutcomeLedger, sandboxLog: string): Promise<LedgerFigures> {
  return ledger.figures((await readSandboxLog(sandboxLog)).map((record) => record.messageId));
}

/** A run's end: the rows its outbox stores, and the ledger's figures against the deliveries. */
export interface SettledOutbox {
  readonly stored: number;
  readonly figures: LedgerFigures;
}

/**
 * Waits until no message in the outbox of `dataSource` is queued, sending or retrying (each is in a
 * final state), then counts the outbox's rows and the ledger's figures against `sandboxLog`.
 */
export async function settledOutbox(
  dataSource: DataSource,
  ledger: OutcomeLedger,
  sandboxLog: string,
  { timeoutMs }: { timeoutMs: number },
): Promise<SettledOutbox> {
  await waitFor(
    'every message to reach a final state',
    async () => {
      const [{ active }] = await dataSource.query(
        "SELECT COUNT(*) AS active FROM outbox_message WHERE status IN ('scheduled', 'queued', 'sending', 'retrying')",
      );
      return Number(active) === 0 ? true : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  );
  const [{ stored }] = await dataSource.query('SELECT COUNT(*) AS stored FROM outbox_message');
  return { stored: Number(stored), figures: await sandboxFigures(ledger, sandboxLog) };
}
