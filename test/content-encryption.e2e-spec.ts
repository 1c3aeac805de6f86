import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { MessageEventType, MessageStatus, type Mail } from '@mailgateway/client';
import { AddressHasher, GatewaySecrets } from '@mailgateway/encryption';
import { mailFingerprint } from '@mailgateway/outbox';
import {
  aCanaryMail,
  aMail,
  DATABASE_KINDS,
  GatewayProcess,
  leakedCanaries,
  mailCanaries,
  openTestDataSource,
  provisionTestDatabase,
  freePort,
  TestDatabase,
  waitFor,
} from '@mailgateway/testing';
import type { DataSource } from 'typeorm';
import { startTestGateway, TestGateway } from './support/test-gateway';

const HOUR = 3_600_000;
const keyOf = () => randomBytes(32).toString('base64');
const KEY_A = `enc-a:${keyOf()}`;
const KEY_B = `enc-b:${keyOf()}`;

describe.each(DATABASE_KINDS)('Content encryption at rest on %s', (kind) => {
  let database: TestDatabase;
  let scratch: string;
  let gateway: TestGateway | undefined;
  let rows: DataSource | undefined;

  beforeEach(async () => {
    database = await provisionTestDatabase(kind);
    scratch = await mkdtemp(join(tmpdir(), 'mailgateway-encryption-'));
  });
  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
    await rows?.destroy();
    rows = undefined;
    await database.drop();
    await rm(scratch, { recursive: true, force: true });
  });

  /** A gateway on this test's database with `env` on top (CONTENT_KEYS: the ring), the one before closed. */
  const restart = async (env: Record<string, string> = {}) => {
    await gateway?.close();
    gateway = await startTestGateway({
      ...database.env,
      SANDBOX_OUTPUT_PATH: join(scratch, 'sent.jsonl'),
      SCHEDULE_MAX_AHEAD_MS: String(2 * 24 * HOUR),
      ...env,
    });
    return gateway;
  };
  const send = async (mail: Mail, { later = false } = {}) => {
    const sendAt = later ? Date.now() + HOUR : undefined;
    const { messageId } = await gateway!.client.sendMail({
      mail,
      idempotencyKey: '',
      sendAt: sendAt === undefined ? undefined : { seconds: Math.floor(sendAt / 1000), nanos: 0 },
    });
    return messageId;
  };
  const deliverNow = async (messageId: string) => {
    await gateway!.client.rescheduleMessage(messageId, Date.now());
    return gateway!.finalState(messageId);
  };
  const query = async <Row>(sql: string): Promise<Row[]> => {
    rows ??= await openTestDataSource(database.env);
    return rows.query(sql);
  };
  const keyIds = async () =>
    (
      await query<{ id: string; content_key_id: string | null }>(
        'SELECT id, content_key_id FROM outbox_message',
      )
    ).reduce((byId, row) => byId.set(row.id, row.content_key_id), new Map<string, string | null>());
  const sentSubjects = () =>
    readFileSync(join(scratch, 'sent.jsonl'), 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => (JSON.parse(line) as { subject: string }).subject);

  /** Every byte of the database: pg_dump of it, or the SQLite file and its write-ahead log. */
  const dump = (): string => {
    if (kind === 'postgres') {
      const result = spawnSync('/usr/bin/pg_dump', [database.env.DATABASE_URL], {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      });
      if (result.status !== 0) throw new Error(`pg_dump failed: ${result.stderr}`);
      return result.stdout;
    }
    const file = database.env.SQLITE_PATH;
    return [file, `${file}-wal`]
      .filter((path) => existsSync(path))
      .map((path) => readFileSync(path).toString('latin1'))
      .join('\n');
  };

  it('keeps no subject, body, header, attachment or display name in a dump, while GetMessage and delivery work', async () => {
    // SQLite: the embedded default ring (no setting); PostgreSQL: the suites' ring.
    await restart();
    const canaries = mailCanaries();
    const mail = aCanaryMail(canaries);
    const delivered = await send(mail);
    const waiting = await send(aCanaryMail(canaries), { later: true });

    const message = await gateway!.finalState(delivered);
    expect(message.status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
    expect(sentSubjects()).toEqual([canaries.subject]);
    const recipients = (await gateway!.client.getMessage({ messageId: waiting })).recipients.map(
      ({ address }) => address,
    );
    expect(recipients).toEqual([
      `${canaries.toAddress}@example.org`,
      `${canaries.ccAddress}@example.org`,
      `${canaries.bccAddress}@example.org`,
    ]);

    const contentCanaries = {
      subject: canaries.subject,
      textBody: canaries.textBody,
      htmlBody: canaries.htmlBody,
      headerValue: canaries.headerValue,
      attachmentName: canaries.attachmentName,
      attachmentContent: canaries.attachmentContent,
      recipientName: canaries.recipientName,
    };
    const bytes = dump();
    expect(bytes).toContain(delivered);
    expect(leakedCanaries(contentCanaries, bytes)).toEqual([]);
    // Nor the unkeyed digest of the content, which a guess at it (an OTP code) could be checked against.
    expect(bytes).not.toContain(mailFingerprint(mail));
    if (kind === 'sqlite') {
      const keyFolder = join(join(database.env.SQLITE_PATH, '..'), 'content-keys');
      expect(existsSync(join(keyFolder, 'local-1'))).toBe(true);
    }
  });

  it('rotates: new messages under the newest key, old ones still deliver; rewrap moves all; the old key can then go', async () => {
    await restart({ CONTENT_KEYS: KEY_A });
    const hash = gateway!.app.get(AddressHasher).hash('ada@example.org');
    const underA = await send(aMail({ subject: 'under A' }), { later: true });
    const deliveredUnderA = await send(aMail({ subject: 'delivered under A' }));
    await gateway!.finalState(deliveredUnderA);
    expect((await keyIds()).get(underA)).toBe('enc-a');

    await restart({ CONTENT_KEYS: `${KEY_A},${KEY_B}` });
    const underB = await send(aMail({ subject: 'under B' }), { later: true });
    expect((await keyIds()).get(underB)).toBe('enc-b');
    expect((await deliverNow(underA)).status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);

    const rewrap = await gateway!.admin.rewrapContentKeys({ limit: 0 });
    expect(rewrap).toEqual({ keyId: 'enc-b', rewrapped: 2, remaining: 0 });
    expect([...(await keyIds()).values()]).toEqual(['enc-b', 'enc-b', 'enc-b']);
    expect(await query('SELECT name, content_key_id FROM gateway_secret ORDER BY name')).toEqual([
      { name: 'address-hash-key', content_key_id: 'enc-b' },
      { name: 'content-fingerprint-key', content_key_id: 'enc-b' },
    ]);
    expect(await gateway!.admin.rewrapContentKeys({ limit: 0 })).toEqual({
      keyId: 'enc-b',
      rewrapped: 0,
      remaining: 0,
    });

    await restart({ CONTENT_KEYS: KEY_B });
    expect((await deliverNow(underB)).status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
    const after = await send(aMail({ subject: 'after' }));
    expect((await gateway!.finalState(after)).status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
    expect(sentSubjects()).toEqual(['delivered under A', 'under A', 'under B', 'after']);
    expect((await gateway!.client.getMessage({ messageId: deliveredUnderA })).recipients).toHaveLength(1);
    expect(gateway!.app.get(AddressHasher).hash('ada@example.org')).toBe(hash);
  });

  /** The message once a claim has handed it back (a RELEASED event), the claim made now. */
  const handedBack = async (messageId: string) => {
    await gateway!.client.rescheduleMessage(messageId, Date.now());
    return waitFor('the message to be handed back', async () => {
      const message = await gateway!.client.getMessage({ messageId });
      const released = message.events.filter(
        (event) => event.type === MessageEventType.MESSAGE_EVENT_TYPE_RELEASED,
      );
      return released.length > 0 && message.status === MessageStatus.MESSAGE_STATUS_RETRYING
        ? message
        : undefined;
    });
  };

  it('hands back a message under a key no longer in the ring until it expires, then fails it naming the key', async () => {
    await restart({ CONTENT_KEYS: KEY_A });
    const lost = await send(aMail({ subject: 'lost' }), { later: true });
    await restart({ CONTENT_KEYS: `${KEY_A},${KEY_B}` });
    const kept = await send(aMail({ subject: 'kept' }), { later: true });
    // Only the gateway's secrets move to enc-b (a full rewrap would rescue the lost message too).
    await gateway!.app.get(GatewaySecrets).rewrap();
    await restart({ CONTENT_KEYS: KEY_B });

    const waiting = await handedBack(lost);
    expect(waiting.attempts).toBe(0);
    expect(waiting.events.at(-1)!.detail).toBe(
      "deferred: content key enc-a is not in this replica's key ring",
    );
    // Claimed again while it waits (handed back again: due later, the attempt still not counted): no second event.
    await gateway!.client.rescheduleMessage(lost, Date.now());
    await waitFor('a second hand-back', async () => {
      const [row] = await query<{ status: string; attempts: number; next_attempt_at: number }>(
        `SELECT status, attempts, next_attempt_at FROM outbox_message WHERE id = '${lost}'`,
      );
      return row.status === 'retrying' && Number(row.next_attempt_at) > Date.now() ? row : undefined;
    });
    const again = await gateway!.client.getMessage({ messageId: lost });
    expect(again.attempts).toBe(0);
    expect(
      again.events.filter((event) => event.type === MessageEventType.MESSAGE_EVENT_TYPE_RELEASED),
    ).toHaveLength(1);

    // Its expiry passes (a reschedule would move it): the next claim ends it.
    await query(
      `UPDATE outbox_message SET expires_at = ${Date.now() - 1}, next_attempt_at = ${Date.now()} WHERE id = '${lost}'`,
    );
    const failed = await gateway!.finalState(lost);
    expect(failed.status).toBe(MessageStatus.MESSAGE_STATUS_FAILED);
    expect(failed.attempts).toBe(1);
    expect(failed.events.at(-1)!.detail).toMatch(/^failed: content key enc-a is not in the key ring/);
    expect(failed.recipients.map(({ address }) => address)).toEqual(['ada@example.org']);
    expect((await deliverNow(kept)).status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
    expect(sentSubjects()).toEqual(['kept']);
    // Nothing left that the ring can move; the lost one is not counted as to do.
    expect(await gateway!.admin.rewrapContentKeys({ limit: 0 })).toMatchObject({ remaining: 0 });
  });

  it('survives a rollback: a replica on the old ring still starts, hands back mail under the new key, and the new ring delivers it', async () => {
    await restart({ CONTENT_KEYS: KEY_A });
    const hash = gateway!.app.get(AddressHasher).hash('ada@example.org');
    const underA = await send(aMail({ subject: 'under A' }), { later: true });
    // The rollout: the new ring's first start records enc-b and seals new mail under it.
    await restart({ CONTENT_KEYS: `${KEY_A},${KEY_B}` });
    const underB = await send(aMail({ subject: 'under B' }), { later: true });
    expect((await keyIds()).get(underB)).toBe('enc-b');
    expect(await query('SELECT name, content_key_id FROM gateway_secret ORDER BY name')).toEqual([
      { name: 'address-hash-key', content_key_id: 'enc-a' },
      { name: 'content-fingerprint-key', content_key_id: 'enc-a' },
    ]);

    // The rollback (or an old-ring replica restarting mid-rollout), started after enc-b's first use.
    await restart({ CONTENT_KEYS: KEY_A });
    expect(gateway!.app.get(AddressHasher).hash('ada@example.org')).toBe(hash);
    expect((await deliverNow(underA)).status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
    const waiting = await handedBack(underB);
    expect(waiting.attempts).toBe(0);
    expect(waiting.events.at(-1)!.detail).toBe(
      "deferred: content key enc-b is not in this replica's key ring",
    );

    await restart({ CONTENT_KEYS: `${KEY_A},${KEY_B}` });
    const delivered = await deliverNow(underB);
    expect(delivered.status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
    expect(delivered.attempts).toBe(1);
    expect(sentSubjects()).toEqual(['under A', 'under B']);
  });

  it('delivers a message stored before content was sealed, and rewrap seals it', async () => {
    await restart({ CONTENT_KEYS: KEY_A });
    const mail = aMail({ subject: 'legacy subject', textBody: 'legacy body' });
    const ids = [await send(mail, { later: true }), await send(mail, { later: true })];
    // As the code before content encryption stored it: plain JSON, no key, no recipients column.
    const plain = JSON.stringify({
      ...mail,
      attachments: mail.attachments.map(({ fileName, contentType, content }) => ({
        fileName,
        contentType,
        contentBase64: Buffer.from(content).toString('base64'),
      })),
    });
    await query(
      `UPDATE outbox_message SET payload = '${plain.replaceAll("'", "''")}', content_key_id = NULL,
              wrapped_data_key = NULL, recipients = NULL, sender = NULL`,
    );
    expect(
      (await gateway!.client.getMessage({ messageId: ids[0] })).recipients.map(({ address }) => address),
    ).toEqual(['ada@example.org']);
    expect((await deliverNow(ids[0])).status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);

    expect(await gateway!.admin.rewrapContentKeys({ limit: 1 })).toEqual({
      keyId: 'enc-a',
      rewrapped: 1,
      remaining: 1,
    });
    expect(await gateway!.admin.rewrapContentKeys({ limit: 5 })).toEqual({
      keyId: 'enc-a',
      rewrapped: 1,
      remaining: 0,
    });
    const sealed = await query<{
      payload: string;
      content_key_id: string;
      recipients: string;
      sender: string;
    }>('SELECT payload, content_key_id, recipients, sender FROM outbox_message');
    for (const row of sealed) {
      expect(row).toMatchObject({
        content_key_id: 'enc-a',
        recipients: '["ada@example.org"]',
        sender: 'billing@example.com',
      });
      expect(row.payload).not.toContain('legacy');
    }
    expect((await deliverNow(ids[1])).status).toBe(MessageStatus.MESSAGE_STATUS_DELIVERED);
    expect(sentSubjects()).toEqual(['legacy subject', 'legacy subject']);
  });

  it('refuses a rewrap limit over 10000, naming the field', async () => {
    await restart();
    await expect(gateway!.admin.rewrapContentKeys({ limit: 10_001 })).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringContaining('limit') as string,
    });
  });

  describe('start-up', () => {
    const refusal = async (env: Record<string, string>) => {
      const gatewayProcess = GatewayProcess.spawn({
        ...database.env,
        GRPC_PORT: String(await freePort()),
        ...env,
      });
      const { code } = await gatewayProcess.exited;
      return { code, logs: gatewayProcess.logs };
    };

    it('refuses a known key id with another key, naming the id and not the key', async () => {
      await restart({ CONTENT_KEYS: KEY_A });
      await gateway!.close();
      gateway = undefined;
      const other = keyOf();
      const { code, logs } = await refusal({ CONTENT_KEYS: `enc-a:${other}` });
      expect(code).toBe(1);
      expect(logs).toContain('content key enc-a is not the key that had id enc-a');
      expect(logs).not.toContain(other);
    });

    it('refuses a key that is not 32 bytes of base64, naming the id and not the key', async () => {
      const short = randomBytes(16).toString('base64');
      const { code, logs } = await refusal({ CONTENT_KEYS: `k1:${keyOf()},k2:${short}` });
      expect(code).toBe(1);
      expect(logs).toContain('CONTENT_KEYS: key k2 is 16 bytes; a content key is 32 random bytes in base64');
      expect(logs).not.toContain(short);
      const garbled = await refusal({ CONTENT_KEYS: 'k3:not*base64' });
      expect(garbled.code).toBe(1);
      expect(garbled.logs).toContain('CONTENT_KEYS: key k3 is not base64');
      expect(garbled.logs).not.toContain('not*base64');
    });

    it('refuses duplicate key ids', async () => {
      const { code, logs } = await refusal({ CONTENT_KEYS: `k1:${keyOf()},k1:${keyOf()}` });
      expect(code).toBe(1);
      expect(logs).toContain('CONTENT_KEYS: key id k1 appears twice');
    });

    if (kind === 'postgres') {
      it('refuses to start on PostgreSQL without a key ring', async () => {
        const { code, logs } = await refusal({ CONTENT_KEYS: '' });
        expect(code).toBe(1);
        expect(logs).toContain('no content key ring: on PostgreSQL set CONTENT_KEYS or CONTENT_KEYS_DIR');
      });
    }
  });
});

describe('Content key ring from a folder (a mounted Secret)', () => {
  let database: TestDatabase;
  let folder: string;
  beforeEach(async () => {
    database = await provisionTestDatabase('sqlite');
    folder = await mkdtemp(join(tmpdir(), 'mailgateway-keys-'));
  });
  afterEach(async () => {
    await database.drop();
    await rm(folder, { recursive: true, force: true });
  });

  it('uses the greatest file name as the newest key, and skips the Secret volume’s dot entries', async () => {
    const { writeFileSync, mkdirSync } = await import('node:fs');
    writeFileSync(join(folder, '2026-01'), keyOf());
    writeFileSync(join(folder, '2026-02'), `${keyOf()}\n`);
    mkdirSync(join(folder, '..2026_12_01'));
    const gateway = await GatewayProcess.start({
      ...database.env,
      GRPC_PORT: String(await freePort()),
      CONTENT_KEYS_DIR: folder,
    });
    try {
      await waitFor('the ring to be announced', () =>
        gateway.messages.includes('2026-01, 2026-02; new messages use 2026-02') ? true : undefined,
      );
    } finally {
      gateway.kill('SIGTERM');
      await gateway.exited;
    }
  });
});
