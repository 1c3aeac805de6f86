import { ContentFingerprinter, ContentSealer, KeyRing } from '@mailgateway/encryption';

/**
 * The content key ring test gateways on PostgreSQL run with (PostgreSQL requires one); a fixed
 * key, so a suite may restart a gateway on the same database. SQLite suites use the embedded
 * default: a key made beside the database file.
 */
export const TEST_CONTENT_KEYS = 'test-1:dGVzdCBjb250ZW50IGtleSBvbmUgb2Ygc3VpdGVzISE=';

/** A sealer on the TEST_CONTENT_KEYS ring, for specs that build outbox roles by hand. */
export function testContentSealer(): ContentSealer {
  const [id, key] = TEST_CONTENT_KEYS.split(':');
  return new ContentSealer(new KeyRing([{ id, key: Buffer.from(key, 'base64') }], id));
}

/** A fingerprinter under a fixed key, for specs that build the enqueuer by hand. */
export function testContentFingerprinter(): ContentFingerprinter {
  return new ContentFingerprinter(Buffer.from('test content fingerprint key, 32'));
}
