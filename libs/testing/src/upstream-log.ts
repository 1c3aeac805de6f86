import { readFile } from 'node:fs/promises';
import type { SandboxRecord } from '@mailgateway/delivery';

/** What the sandbox driver wrote to SANDBOX_OUTPUT_PATH: one record per delivery, any process. */
export async function readSandboxLog(path: string): Promise<SandboxRecord[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as SandboxRecord);
}

/** How many times each message id was delivered. */
export function deliveriesPerMessage(records: readonly SandboxRecord[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { messageId } of records) counts.set(messageId, (counts.get(messageId) ?? 0) + 1);
  return counts;
}
