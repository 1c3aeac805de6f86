import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { runStatement, TransactionRunner } from '@mailgateway/database';
import { ContentKeyException } from './content-key.exception';
import { IV_BYTES, openBytes, sealBytes, wrappingKey } from './envelope';
import { KeyRing } from './key-ring';

/** The HMAC key of AddressHasher: made once, the same on every replica and across key rotations. */
export const ADDRESS_HASH_KEY = 'address-hash-key';
/** The HMAC key of ContentFingerprinter, the same on every replica and across key rotations. */
export const CONTENT_FINGERPRINT_KEY = 'content-fingerprint-key';

interface SecretRow {
  name: string;
  content_key_id: string;
  wrapped_value: string;
}

/**
 * The gateway's own secrets, kept in gateway_secret wrapped by a content key: random 32 bytes made
 * by the first process that needs one, read back by every other. Re-wrapped with the message data
 * keys (RewrapContentKeys, run once every replica has the new ring), so removing an old key from
 * the ring afterwards keeps them readable.
 */
@Injectable()
export class GatewaySecrets {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly ring: KeyRing,
  ) {}

  /**
   * The secret `name`, made now if it does not exist yet. Read under whichever key of the ring
   * wraps it, never re-wrapped here: a replica still on an older ring (a rollout under way, a
   * rollback) must start as well. Only rewrap() moves it to the newest key.
   */
  async get(name: string): Promise<Buffer> {
    let row = await this.find(name);
    if (!row) {
      const keyId = this.ring.activeKeyId;
      const wrapped = sealBytes(
        secretWrappingKey(this.ring.activeKey, name),
        randomBytes(IV_BYTES),
        randomBytes(32),
        context(name, keyId),
      );
      await this.transactions.run(async (manager) => {
        const parameters = this.transactions.parameters();
        await runStatement(
          manager,
          `INSERT INTO gateway_secret (name, content_key_id, wrapped_value, updated_at)
             VALUES (${parameters.add(name)}, ${parameters.add(keyId)}, ${parameters.add(wrapped.toString('base64'))},
                     ${parameters.add(Date.now())})
             ON CONFLICT (name) DO NOTHING`,
          parameters.values,
        );
      });
      // Another replica may have made it first: its value is the one.
      row = await this.find(name);
    }
    return this.unwrap(row!);
  }

  /**
   * Re-wraps every secret not under the active key; how many changed. A replica whose ring lacks
   * the active key cannot start afterwards: run it once every replica has the new ring.
   */
  async rewrap(): Promise<number> {
    const active = this.ring.activeKeyId;
    return this.transactions.run(async (manager) => {
      const parameters = this.transactions.parameters();
      const rows = await runStatement<SecretRow>(
        manager,
        `SELECT name, content_key_id, wrapped_value FROM gateway_secret
          WHERE content_key_id <> ${parameters.add(active)}${this.transactions.dialect === 'postgres' ? ' FOR UPDATE' : ''}`,
        parameters.values,
      );
      for (const row of rows) {
        const value = this.unwrap(row);
        const wrapped = sealBytes(
          secretWrappingKey(this.ring.activeKey, row.name),
          randomBytes(IV_BYTES),
          value,
          context(row.name, active),
        );
        const update = this.transactions.parameters();
        await runStatement(
          manager,
          `UPDATE gateway_secret SET content_key_id = ${update.add(active)},
                  wrapped_value = ${update.add(wrapped.toString('base64'))}, updated_at = ${update.add(Date.now())}
            WHERE name = ${update.add(row.name)}`,
          update.values,
        );
      }
      return rows.length;
    });
  }

  private async find(name: string): Promise<SecretRow | undefined> {
    const parameters = this.transactions.parameters();
    const rows: SecretRow[] = await this.transactions.read((manager) =>
      manager.query(
        `SELECT name, content_key_id, wrapped_value FROM gateway_secret WHERE name = ${parameters.add(name)}`,
        parameters.values,
      ),
    );
    return rows[0];
  }

  private unwrap(row: SecretRow): Buffer {
    if (!this.ring.has(row.content_key_id)) {
      throw new ContentKeyException(
        `the gateway secret ${row.name} is wrapped by content key ${row.content_key_id}, which is not in the key ring: ` +
          `put ${row.content_key_id} back and run "mailgateway content-keys rewrap" before removing it`,
      );
    }
    try {
      return openBytes(
        secretWrappingKey(this.ring.key(row.content_key_id), row.name),
        Buffer.from(row.wrapped_value, 'base64'),
        context(row.name, row.content_key_id),
      );
    } catch {
      throw new ContentKeyException(
        `the gateway secret ${row.name} does not open under content key ${row.content_key_id}`,
      );
    }
  }
}

function context(name: string, keyId: string): string {
  return `mailgateway secret ${name} ${keyId}`;
}

function secretWrappingKey(kek: Buffer, name: string): Buffer {
  return wrappingKey(kek, `mailgateway secret ${name}`);
}
