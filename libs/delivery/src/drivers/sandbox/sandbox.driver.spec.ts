import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aMail, describeMailDriverContract } from '@mailgateway/testing';
import { sandbox } from '.';
import { SandboxDriver } from './sandbox.driver';

describeMailDriverContract({ definition: sandbox, env: {} });

describe(SandboxDriver.name, () => {
  const message = { id: 'message-1', attempt: 2, idempotencyKey: 'message-1', mail: aMail() };

  it('records what it was given instead of sending it, and appends it to the output file', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'mailgateway-sandbox-'));
    try {
      const outputPath = join(folder, 'sent.jsonl');
      const sut = new SandboxDriver({ outputPath, latencyMs: 0 });

      expect(await sut.send(message, new AbortController().signal)).toEqual({
        kind: 'accepted',
        providerMessageId: 'sandbox-message-1',
      });

      const expected = { messageId: 'message-1', attempt: 2, from: 'billing@example.com', recipients: 1 };
      expect(sut.records()).toEqual([expect.objectContaining({ ...expected, subject: 'Your invoice' })]);
      const [line] = (await readFile(outputPath, 'utf8')).trim().split('\n');
      expect(JSON.parse(line)).toMatchObject(expected);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('stops waiting out its latency when the signal aborts', async () => {
    const sut = new SandboxDriver({ latencyMs: 600_000 });
    const shutdown = new AbortController();
    const sending = sut.send(message, shutdown.signal);
    shutdown.abort();
    await expect(sending).rejects.toThrow(/abort/i);
    expect(sut.records()).toEqual([]);
  });
});
