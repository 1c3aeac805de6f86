import { randomBytes } from 'node:crypto';
import { ContentKeyMissingException } from './content-key.exception';
import { ContentSealer, ContentUnreadableException, dataKeyWrappingKey } from './content-sealer';
import { openBytes } from './envelope';
import { KeyRing } from './key-ring';

const key = () => randomBytes(32);

describe(ContentSealer.name, () => {
  const a = { id: 'a', key: key() };
  const b = { id: 'b', key: key() };
  const content = JSON.stringify({ subject: 'Invoice 42', textBody: 'secret body' });

  it('seals under the active key, with nothing of the content in what is stored, and opens it again', () => {
    const sut = new ContentSealer(new KeyRing([a, b], null));
    const sealed = sut.seal('m1', content);
    expect(sealed.contentKeyId).toBe('b');
    expect(sealed.payload).not.toContain('Invoice');
    expect(Buffer.from(sealed.payload.slice(3), 'base64').toString('latin1')).not.toContain('Invoice');
    expect(sut.open('m1', sealed)).toBe(content);
  });

  it('uses a new data key for every message: the same content seals differently', () => {
    const sut = new ContentSealer(new KeyRing([a], null));
    const first = sut.seal('m1', content);
    const second = sut.seal('m1', content);
    expect(first.payload).not.toBe(second.payload);
    expect(first.wrappedDataKey).not.toBe(second.wrappedDataKey);
  });

  it('refuses content moved to another message id (the id is authenticated)', () => {
    const sut = new ContentSealer(new KeyRing([a], null));
    const sealed = sut.seal('m1', content);
    expect(() => sut.open('m2', sealed)).toThrow(ContentUnreadableException);
    const other = sut.seal('m2', content);
    expect(() => sut.open('m1', { ...sealed, wrappedDataKey: other.wrappedDataKey })).toThrow(
      ContentUnreadableException,
    );
  });

  it('wraps each data key under a key derived for its message id, never under the KEK itself', () => {
    const sut = new ContentSealer(new KeyRing([a], null));
    const sealed = sut.seal('m1', content);
    const wrapped = Buffer.from(sealed.wrappedDataKey, 'base64');
    const context = 'mailgateway data key m1 a';
    expect(openBytes(dataKeyWrappingKey(a.key, 'm1'), wrapped, context)).toHaveLength(32);
    // Neither the KEK itself nor the key derived for another message opens it, even with m1's context.
    expect(() => openBytes(a.key, wrapped, context)).toThrow();
    expect(() => openBytes(dataKeyWrappingKey(a.key, 'm2'), wrapped, context)).toThrow();
    expect(dataKeyWrappingKey(a.key, 'm1').equals(dataKeyWrappingKey(a.key, 'm2'))).toBe(false);
  });

  it('refuses an altered byte', () => {
    const sut = new ContentSealer(new KeyRing([a], null));
    const sealed = sut.seal('m1', content);
    const bytes = Buffer.from(sealed.payload.slice(3), 'base64');
    bytes[20] ^= 1;
    expect(() => sut.open('m1', { ...sealed, payload: `v1:${bytes.toString('base64')}` })).toThrow(
      ContentUnreadableException,
    );
  });

  it('re-wraps the data key under the newest key, leaving the sealed content as it is', () => {
    const old = new ContentSealer(new KeyRing([a], null)).seal('m1', content);
    const sut = new ContentSealer(new KeyRing([a, b], 'b'));
    const moved = sut.rewrap('m1', old.contentKeyId, old.wrappedDataKey);
    expect(moved.contentKeyId).toBe('b');
    const onlyB = new ContentSealer(new KeyRing([b], null));
    expect(onlyB.open('m1', { payload: old.payload, ...moved })).toBe(content);
  });

  it('names the key when the ring does not hold it', () => {
    const sealed = new ContentSealer(new KeyRing([a], null)).seal('m1', content);
    const sut = new ContentSealer(new KeyRing([b], null));
    expect(() => sut.open('m1', sealed)).toThrow(ContentKeyMissingException);
    expect(() => sut.open('m1', sealed)).toThrow('content key a is not in the key ring');
  });

  it('passes a row stored before sealing (no key id) through as it is', () => {
    const sut = new ContentSealer(new KeyRing([a], null));
    expect(sut.open('m1', { payload: content, contentKeyId: null, wrappedDataKey: null })).toBe(content);
  });
});

describe(KeyRing.name, () => {
  it('takes the last key as the newest unless one is named', () => {
    expect(
      new KeyRing(
        [
          { id: 'a', key: key() },
          { id: 'b', key: key() },
        ],
        null,
      ).activeKeyId,
    ).toBe('b');
    expect(
      new KeyRing(
        [
          { id: 'a', key: key() },
          { id: 'b', key: key() },
        ],
        'a',
      ).activeKeyId,
    ).toBe('a');
  });

  it('refuses duplicate ids, short keys, an unknown active id and an empty ring, naming the id', () => {
    expect(
      () =>
        new KeyRing(
          [
            { id: 'a', key: key() },
            { id: 'a', key: key() },
          ],
          null,
        ),
    ).toThrow('key id a appears twice');
    expect(() => new KeyRing([{ id: 'a', key: randomBytes(31) }], null)).toThrow('key a is 31 bytes');
    expect(() => new KeyRing([{ id: 'a', key: key() }], 'z')).toThrow(
      'CONTENT_ACTIVE_KEY_ID: key z is not in',
    );
    expect(() => new KeyRing([], null)).toThrow('holds no key');
  });

  it('gives a check value that differs per key and tells nothing of it', () => {
    const secret = key();
    const ring = new KeyRing([{ id: 'a', key: secret }], null);
    expect(ring.checkValue('a')).toMatch(/^[0-9a-f]{64}$/);
    expect(ring.checkValue('a')).not.toContain(secret.toString('hex'));
    expect(new KeyRing([{ id: 'a', key: key() }], null).checkValue('a')).not.toBe(ring.checkValue('a'));
  });
});
