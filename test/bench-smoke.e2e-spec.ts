import { spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The benchmark harness, run for a few seconds so it keeps working; its figures are not judged here. */
describe('Benchmark harness (smoke run)', () => {
  it('runs every scenario against its baselines and writes the table as JSON', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'mailgateway-bench-')), 'bench.json');
    const child = spawn(
      process.execPath,
      [join(__dirname, '../dist/bench/main.js'), '--smoke', '--out', out],
      {
        env: { ...process.env, DATABASE_URL: process.env.MAILGATEWAY_TEST_POSTGRES_URL },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise((resolve) => child.once('exit', resolve));

    expect({ code, output: code === 0 ? '' : output }).toEqual({ code: 0, output: '' });
    const report = JSON.parse(await readFile(out, 'utf8')) as {
      smoke: boolean;
      loadAverage: { start: string; end: string };
      rows: {
        measure: string;
        value: number;
        detail?: string;
        cpu?: { serverUsPerCall: number; postgresUsPerCall?: number };
      }[];
      notes: string[];
    };
    expect(report.smoke).toBe(true);
    expect(report.loadAverage).toEqual({ start: expect.any(String), end: expect.any(String) });
    const measures = report.rows.map((row) => row.measure);
    for (const expected of [
      'bare grpc-js server, empty handler',
      'ideal durable server (grpc-js, pg, group commit, one INSERT per group)',
      'ideal durable server + a key lookup per call (one SELECT by primary key)',
      'raw PostgreSQL batch insert, 500 messages + 500 ACCEPTED events per statement, 2 inserters',
      'SendMail, durable on postgres',
      'SendMail, durable on sqlite',
      'SendMailBatch of 500, durable on postgres',
      'SendMailBatch of 500 vs raw PostgreSQL batch insert of the same rows',
      'ListEvents read rate (page_size 1000), unread feed on postgres',
      'ListEvents read rate (page_size 1000), unread feed on sqlite',
      'StreamEvents lag p99, SendMail OK to ACCEPTED event, stream on the same process (postgres)',
      'StreamEvents lag p99, SendMail OK to ACCEPTED event, stream on the second replica (postgres)',
      'bare undici pool, 10 connections',
      'ideal delivery loop (pg + undici: claim 300 per statement, 30 in flight, outcomes grouped)',
      'delivery from a full outbox (postgres) to the same upstream',
      'gateway delivery vs pg-boss',
      'bare nodemailer SMTP pool, 10 connections',
      'SMTP delivery from a full outbox (postgres) to the same relay',
      'scheduled send lateness p50, send_at to attempt start (postgres)',
      'scheduled send lateness p99, send_at to attempt start (postgres)',
      'scheduled send delivered',
      'gateway peak RSS',
    ]) {
      expect(measures).toContain(expected);
    }
    // A stream lag counts from the SendMail OK, which the event may beat: below zero is a result.
    // A scheduled message's attempt may start within the millisecond of its send_at: zero is one.
    const lag = (row: { measure: string }) => row.measure.startsWith('StreamEvents lag');
    const lateness = (row: { measure: string }) => row.measure.startsWith('scheduled send lateness');
    expect(
      report.rows.every(
        (row) =>
          Number.isFinite(row.value) && (lag(row) || row.value > 0 || (lateness(row) && row.value === 0)),
      ),
    ).toBe(true);
    // Each accept, batch and delivery rate, gateway or baseline, comes with its CPU per call.
    const withCpu = report.rows.filter((row) =>
      /^(ideal|raw|bare grpc|SendMail,|SendMailBatch of \d+,|delivery from)/.test(row.measure),
    );
    expect(withCpu).toHaveLength(10);
    for (const row of withCpu) {
      expect({ measure: row.measure, server: Number.isFinite(row.cpu?.serverUsPerCall) }).toEqual({
        measure: row.measure,
        server: true,
      });
    }
    // Latency from h2load where it is installed; where it is not, the report says so.
    const fromH2load = report.rows.filter((row) => row.measure.endsWith('open loop from h2load)'));
    if (report.notes.some((note) => note.startsWith('h2load is not installed'))) {
      expect(fromH2load).toEqual([]);
    } else {
      expect(fromH2load.map((row) => row.measure.replace(/\(\d+\/s/, '(N/s'))).toEqual([
        'SendMail p99 on the ideal durable server, same rate (N/s, open loop from h2load)',
        'SendMail p99 at half the maximum rate (N/s, open loop from h2load)',
      ]);
      for (const row of fromH2load) expect(row.detail).toContain(' 0 errors (not HTTP 200, or not stored)');
    }
    // The smoke run schedules 300 messages over 3 s: every one was delivered.
    const scheduled = report.rows.find((row) => row.measure === 'scheduled send delivered');
    expect(scheduled?.value).toBe(300);
  }, 180_000);

  it('runs the retention soak on a PostgreSQL of its own with autovacuum on, window by window', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'mailgateway-bench-')), 'soak.json');
    // One 10-second window at 5 calls/s, on an outbox seeded with an hour of history at that rate.
    const child = spawn(
      process.execPath,
      [
        join(__dirname, '../dist/bench/main.js'),
        '--smoke',
        ...['--soak', '10', '--soak-only', '--soak-rate', '5', '--soak-warm-up', '0'],
        ...['--out', out],
      ],
      {
        env: { ...process.env, DATABASE_URL: process.env.MAILGATEWAY_TEST_POSTGRES_URL },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise((resolve) => child.once('exit', resolve));

    expect({ code, output: code === 0 ? '' : output }).toEqual({ code: 0, output: '' });
    const report = JSON.parse(await readFile(out, 'utf8')) as {
      rows: { measure: string; value: number; detail?: string }[];
      soakWindows: {
        calls: number;
        errors: number;
        tables: Record<'outbox_message' | 'message_event', { liveRows: number; totalBytes: number }>;
      }[];
    };
    const setup = report.rows.find((row) => row.measure === 'soak: rate, database and load');
    expect(setup?.value).toBe(5);
    expect(setup?.detail).toContain('autovacuum on');
    for (const expected of [
      'soak: SendMail p99, last third / first third',
      'soak: outbox_message size (table, indexes, TOAST), last third / first third',
      'soak: message_event size (table, indexes, TOAST), last third / first third',
      'soak: outbox_message rows, last third / first third',
      'soak: message_event rows, last third / first third',
    ]) {
      expect(report.rows.find((row) => row.measure === expected)?.value).toBeGreaterThan(0);
    }
    expect(report.soakWindows).toHaveLength(1);
    const [window] = report.soakWindows;
    expect({ calls: window.calls, errors: window.errors }).toEqual({ calls: 50, errors: 0 });
    // The seed: an hour of final messages at 5 a second, less those already due for deletion.
    expect(window.tables.outbox_message.liveRows).toBeGreaterThan(17_000);
    expect(window.tables.message_event.liveRows).toBeGreaterThan(3 * 17_000);
    expect(window.tables.message_event.totalBytes).toBeGreaterThan(0);
  }, 180_000);
});
