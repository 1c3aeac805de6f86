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
      rows: { measure: string; value: number }[];
    };
    expect(report.smoke).toBe(true);
    const measures = report.rows.map((row) => row.measure);
    for (const expected of [
      'bare grpc-js server, empty handler',
      'SendMail, durable on postgres',
      'SendMail, durable on sqlite',
      'SendMailBatch of 500, durable on postgres',
      'ListEvents read rate (page_size 1000), unread feed on postgres',
      'ListEvents read rate (page_size 1000), unread feed on sqlite',
      'StreamEvents lag p99, SendMail OK to ACCEPTED event, stream on the same process (postgres)',
      'StreamEvents lag p99, SendMail OK to ACCEPTED event, stream on the second replica (postgres)',
      'bare undici pool, 10 connections',
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
    // The smoke run schedules 300 messages over 3 s: every one was delivered.
    const scheduled = report.rows.find((row) => row.measure === 'scheduled send delivered');
    expect(scheduled?.value).toBe(300);
  }, 180_000);
});
