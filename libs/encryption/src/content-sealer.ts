import { ErrorCode, GatewayException } from '@mailgateway/errors';
import { CONTENT_KEY_BYTES, KeyRing } from './key-ring';
import { IV_BYTES, openBytes, sealBytes, wrappingKey } from './envelope';
import { RandomPool } from './random-pool';

/** A message's content as stored: sealed with its data key, which content_key_id wrapped. */
export interface SealedContent {
  readonly payload: string;
  readonly contentKeyId: string;
  readonly wrappedDataKey: string;
}

/** What a stored row holds; contentKeyId null: plain JSON stored before content was sealed. */
export interface StoredContent {
  readonly payload: string;
  readonly contentKeyId: string | null;
  readonly wrappedDataKey: string | null;
}

/** A sealed value that does not open under its key and row (altered, or moved from another row). */
export class ContentUnreadableException extends GatewayException {
  readonly code = ErrorCode.FailedPrecondition;
}

const PAYLOAD_VERSION = 'v1:';

/**
 * Seals message content at rest: a random AES-256-GCM data key per message seals the content,
 * and a key derived from the ring's active key for this message alone (HKDF, info = the message
 * id) wraps the data key. Both are bound to the message id (authenticated
 * data), so neither can be moved to another row. Re-wrapping touches only the data key.
 */
export class ContentSealer {
  private readonly random = new RandomPool();

  constructor(readonly ring: KeyRing) {}

  get activeKeyId(): string {
    return this.ring.activeKeyId;
  }

  seal(messageId: string, content: string): SealedContent {
    // One draw for the data key and both ivs, from a pool filled in bulk.
    const random = this.random.take(CONTENT_KEY_BYTES + 2 * IV_BYTES);
    const dataKey = random.subarray(0, CONTENT_KEY_BYTES);
    const contentIv = random.subarray(CONTENT_KEY_BYTES, CONTENT_KEY_BYTES + IV_BYTES);
    const wrapIv = random.subarray(CONTENT_KEY_BYTES + IV_BYTES);
    const keyId = this.ring.activeKeyId;
    const sealed = sealBytes(dataKey, contentIv, Buffer.from(content, 'utf8'), contentContext(messageId));
    const wrapped = sealBytes(
      dataKeyWrappingKey(this.ring.activeKey, messageId),
      wrapIv,
      dataKey,
      dataKeyContext(messageId, keyId),
    );
    return {
      payload: PAYLOAD_VERSION + sealed.toString('base64'),
      contentKeyId: keyId,
      wrappedDataKey: wrapped.toString('base64'),
    };
  }

  /**
   * The content of a stored row: plain rows as they are. ContentKeyMissingException when the ring
   * lacks the row's key; ContentUnreadableException when it does not open under it.
   */
  open(messageId: string, stored: StoredContent): string {
    if (stored.contentKeyId === null) return stored.payload;
    const dataKey = this.unwrap(messageId, stored.contentKeyId, stored.wrappedDataKey);
    if (!stored.payload.startsWith(PAYLOAD_VERSION)) {
      throw new ContentUnreadableException(`message ${messageId}: its sealed content has an unknown format`);
    }
    try {
      return openBytes(
        dataKey,
        Buffer.from(stored.payload.slice(PAYLOAD_VERSION.length), 'base64'),
        contentContext(messageId),
      ).toString('utf8');
    } catch {
      throw new ContentUnreadableException(
        `message ${messageId}: its sealed content does not open under its data key`,
      );
    }
  }

  /** The same data key wrapped by the active key instead. */
  rewrap(
    messageId: string,
    contentKeyId: string,
    wrappedDataKey: string | null,
  ): { contentKeyId: string; wrappedDataKey: string } {
    const dataKey = this.unwrap(messageId, contentKeyId, wrappedDataKey);
    const keyId = this.ring.activeKeyId;
    const wrapped = sealBytes(
      dataKeyWrappingKey(this.ring.activeKey, messageId),
      this.random.take(IV_BYTES),
      dataKey,
      dataKeyContext(messageId, keyId),
    );
    return { contentKeyId: keyId, wrappedDataKey: wrapped.toString('base64') };
  }

  private unwrap(messageId: string, keyId: string, wrappedDataKey: string | null): Buffer {
    const key = dataKeyWrappingKey(this.ring.key(keyId), messageId);
    try {
      return openBytes(key, Buffer.from(wrappedDataKey ?? '', 'base64'), dataKeyContext(messageId, keyId));
    } catch {
      throw new ContentUnreadableException(
        `message ${messageId}: its data key does not open under content key ${keyId}`,
      );
    }
  }
}

function contentContext(messageId: string): string {
  return `mailgateway content ${messageId}`;
}

function dataKeyContext(messageId: string, keyId: string): string {
  return `mailgateway data key ${messageId} ${keyId}`;
}

/** The key that wraps one message's data key: derived from the KEK for that message id. */
export function dataKeyWrappingKey(kek: Buffer, messageId: string): Buffer {
  return wrappingKey(kek, `mailgateway data key ${messageId}`);
}
