import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  aSendMailRequest,
  formatFigures,
  freePort,
  GatewayProcess,
  OutcomeLedger,
  openTestDataSource,
  sendUntilAcknowledged,
  settledOutbox,
} from '@mailgateway/testing';
import { singleAttemptClient } from '../support/single-attempt-client';
import { sized } from './reliability-scale';

const MESSAGES = sized(200, 400);
const DISK_BYTES = 48 * 1024 * 1024;
/**
 * Large, so that the writes while the disk is full soon outgrow the WAL file: SQLite reuses its
 * WAL from the start after a checkpoint, and commits that fit there need no new space (and are
 * as durable as any). Every message fits on the disk once space is freed.
 */
const BODY = 'x'.repeat(64 * 1024);

/** Fills the file system with one file until it refuses another byte; returns its path. */
function fillDisk(folder: string): string {
  // Never fill anything but the small disk mounted for this test.
  const { blocks, bsize } = statfsSync(folder);
  if (blocks * bsize > 2 * DISK_BYTES)
    throw new Error(`${folder} is not the small disk (${blocks * bsize} bytes)`);
  const filler = join(folder, 'filler');
  const chunk = Buffer.alloc(256 * 1024);
  writeFileSync(filler, '');
  for (;;) {
    try {
      writeFileSync(filler, chunk, { flag: 'a' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
      throw error;
    }
  }
  // What is left is smaller than one chunk: fill that too.
  for (const size of [65536, 4096, 512, 1]) {
    try {
      for (;;) writeFileSync(filler, Buffer.alloc(size), { flag: 'a' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    }
  }
  return filler;
}

// Scenario 3: the SQLite file's disk fills up (a small tmpfs), then space comes back.
describe('Reliability: the SQLite disk fills up', () => {
  let mountPoint: string;
  let scratch: string;
  let gateway: GatewayProcess | undefined;

  beforeAll(async () => {
    mountPoint = mkdtempSync(join(tmpdir(), 'mailgateway-small-disk-'));
    // No skipping: without a small disk of its own this scenario cannot run, and says so.
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${DISK_BYTES}`, 'tmpfs', mountPoint], {
        stdio: 'pipe',
      });
    } catch (error) {
      throw new Error(
        `Scenario 3 needs a small tmpfs: "mount -t tmpfs" failed (${(error as Error).message.trim()}). Run the suite as root or in a container allowed to mount tmpfs.`,
      );
    }
    scratch = await mkdtemp(join(tmpdir(), 'mailgateway-disk-full-'));
  });

  afterAll(async () => {
    await gateway?.crash();
    // Lazily: a process that still holds a file there must not keep the disk mounted.
    execFileSync('umount', ['--lazy', mountPoint], { stdio: 'pipe' });
    rmSync(mountPoint, { recursive: true, force: true });
    await rm(scratch, { recursive: true, force: true });
  });

  it(
    'gives no OK for a failed write and accepts again once space is freed, without a restart',
    async () => {
      const port = await freePort();
      const upstreamLog = join(scratch, 'upstream.jsonl');
      const env = {
        SQLITE_PATH: join(mountPoint, 'outbox.sqlite'),
        GRPC_PORT: String(port),
        SANDBOX_OUTPUT_PATH: upstreamLog,
        DELIVERY_POLL_INTERVAL_MS: '20',
        DELIVERY_LEASE_MS: '1000',
        RETRY_BASE_DELAY_MS: '20',
      };
      gateway = await GatewayProcess.start(env);
      const client = singleAttemptClient(`127.0.0.1:${port}`);
      const ledger = new OutcomeLedger();
      const keys = Array.from({ length: MESSAGES }, (_, index) => `disk-${index}`);
      const send = (slice: string[], deadline: number) =>
        sendUntilAcknowledged({
          keys: slice,
          request: (key) => aSendMailRequest({ subject: key, textBody: `${key} ${BODY}` }, key),
          send: (request) => client.sendMail(request),
          ledger,
          callers: 4,
          retryDelayMs: 20,
          deadline,
        });

      await send(keys.slice(0, MESSAGES / 4), Date.now() + 30_000);
      const filler = fillDisk(mountPoint);
      const fullFrom = Date.now();
      await send(keys.slice(MESSAGES / 4), Date.now() + sized(3_000, 10_000));
      const fullUntil = Date.now();
      const whileFull = ledger.outcomeCounts(fullFrom, fullUntil);
      const acknowledgedWhileFull = ledger.acknowledged.size;
      await unlink(filler);
      await send(keys, Date.now() + 60_000);

      const dataSource = await openTestDataSource({ SQLITE_PATH: env.SQLITE_PATH });
      try {
        const { stored, figures } = await settledOutbox(dataSource, ledger, upstreamLog, {
          timeoutMs: 30_000,
        });
        client.close();
        console.log(
          formatFigures('3 disk full', figures, {
            messages: MESSAGES,
            'disk MiB': DISK_BYTES / 1024 / 1024,
            'calls while full': JSON.stringify(whileFull),
            'acknowledged before space was freed': acknowledgedWhileFull,
            'stored rows': stored,
            'gateway restarted': gateway.hasExited ? 'yes' : 'no',
          }),
        );
        expect(gateway.hasExited).toBe(false);
        expect(whileFull['failed UNAVAILABLE']).toBeGreaterThan(0);
        expect(
          Object.keys(whileFull).filter((outcome) => outcome !== 'ok' && outcome !== 'failed UNAVAILABLE'),
        ).toEqual([]);
        expect(ledger.acknowledged.size).toBe(MESSAGES);
        expect(stored).toBe(MESSAGES);
        expect(figures.lost).toBe(0);
        expect(figures.unexpected).toBe(0);
      } finally {
        await dataSource.destroy();
      }
    },
    sized(120_000, 300_000),
  );
});
