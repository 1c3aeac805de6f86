// The delivery ceiling: plain `pg` and undici drain a full outbox into the same upstream as the
// gateway, with nothing else. A claim leases a few hundred due rows in one statement (and writes
// their attempt_started events in it); posts run with the gateway's concurrency over the same
// connection cap; outcomes are recorded in groups, one statement per group (the update and the
// delivered events), while the posts go on.
import { Pool as PgPool } from 'pg';
import { Pool as HttpPool } from 'undici';
import { CpuMeter, CpuPerCall } from './cpu-meter';

const ACTIVE = "('scheduled', 'queued', 'sending', 'retrying')";
const LEASE_MS = 60_000;

const CLAIM = `WITH claimed AS (
    UPDATE outbox_message
       SET status = 'sending', attempts = attempts + 1, lease_token = lease_token + 1,
           next_attempt_at = $1, updated_at = $2
     WHERE id IN (SELECT id FROM outbox_message
                   WHERE status IN ${ACTIVE} AND next_attempt_at <= $2
                   ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
    RETURNING id, source, attempts, lease_token, payload),
  started AS (
    INSERT INTO message_event (message_id, source, type, attempt, detail, occurred_at, recorded_at)
    SELECT id, source, 'attempt_started', attempts, 'attempt started', $2, $2 FROM claimed)
  SELECT id, attempts, lease_token, payload FROM claimed`;

const RECORD_DELIVERED = `WITH done AS (
    UPDATE outbox_message message
       SET status = 'delivered', provider = 'http', provider_message_id = outcome.provider_message_id,
           updated_at = $4
      FROM unnest($1::varchar[], $2::int[], $3::varchar[]) AS outcome(id, lease_token, provider_message_id)
     WHERE message.id = outcome.id AND message.lease_token = outcome.lease_token
    RETURNING message.id, message.source, message.attempts)
  INSERT INTO message_event (message_id, source, type, attempt, detail, occurred_at, recorded_at, provider)
  SELECT id, source, 'delivered', attempts, 'delivered', $4, $4, 'http' FROM done`;

interface Claimed {
  readonly id: string;
  readonly attempts: number;
  readonly lease_token: number;
  readonly payload: string;
}

interface Outcome {
  readonly id: string;
  readonly leaseToken: number;
  readonly providerMessageId: string;
}

export interface IdealDeliveryOptions {
  readonly databaseUrl: string;
  /** The upstream's origin; posts go to /send there. */
  readonly upstream: string;
  /** The mail each post carries, as the gateway's http driver sends it. */
  readonly mail: unknown;
  readonly connections: number;
  readonly inFlight: number;
  readonly claimSize: number;
}

/**
 * Drains every due message; resolves with how many were delivered (and recorded), and the CPU per
 * message of this process and PostgreSQL, measured while the connections are open.
 */
export async function drainOutbox(
  options: IdealDeliveryOptions,
): Promise<{ delivered: number; cpu: CpuPerCall }> {
  const meter = new CpuMeter(process.pid, options.databaseUrl);
  const database = new PgPool({ connectionString: options.databaseUrl, max: 4 });
  const http = new HttpPool(options.upstream, { connections: options.connections, pipelining: 1 });
  const queue: Claimed[] = [];
  let outcomes: Outcome[] = [];
  let claiming: Promise<void> | undefined;
  let exhausted = false;
  let recording: Promise<void> | undefined;
  let recorded = 0;

  // One claim at a time, started early enough that the posts never wait on it.
  const claim = (): Promise<void> =>
    (claiming ??= (async () => {
      const now = Date.now();
      const { rows } = await database.query<Claimed>(CLAIM, [now + LEASE_MS, now, options.claimSize]);
      if (rows.length === 0) exhausted = true;
      queue.push(...rows);
    })().finally(() => (claiming = undefined)));

  // Group commit of outcomes: those that arrive while a statement runs share the next one.
  const record = (): Promise<void> =>
    (recording ??= (async () => {
      while (outcomes.length > 0) {
        const group = outcomes;
        outcomes = [];
        const now = Date.now();
        await database.query(RECORD_DELIVERED, [
          group.map(({ id }) => id),
          group.map(({ leaseToken }) => leaseToken),
          group.map(({ providerMessageId }) => providerMessageId),
          now,
        ]);
        recorded += group.length;
      }
    })().finally(() => (recording = undefined)));

  const post = async (message: Claimed): Promise<void> => {
    const response = await http.request({
      method: 'POST',
      path: '/send',
      headers: { 'content-type': 'application/json', 'idempotency-key': message.id },
      // The gateway's driver posts the mail it opened from the payload; the payload is read here too.
      body: JSON.stringify({ messageId: message.id, attempt: message.attempts, mail: options.mail }),
    });
    const { id } = (await response.body.json()) as { id: string };
    outcomes.push({ id: message.id, leaseToken: message.lease_token, providerMessageId: id });
    void record();
  };

  try {
    await Promise.all(
      Array.from({ length: options.inFlight }, async () => {
        for (;;) {
          if (queue.length < options.claimSize / 2 && !exhausted) void claim();
          const message = queue.shift();
          if (message) {
            await post(message);
          } else if (exhausted) {
            return;
          } else {
            await claim();
          }
        }
      }),
    );
    while (recording || outcomes.length > 0) await record();
    return { delivered: recorded, cpu: meter.perCall(recorded) };
  } finally {
    await http.close();
    await database.end();
  }
}
