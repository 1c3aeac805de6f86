import { ConnectionSlots } from './connection-slots';

describe(ConnectionSlots.name, () => {
  it('hands out at most `limit` slots and the next one as soon as one is released', async () => {
    const sut = new ConnectionSlots(2);
    const first = await sut.acquire();
    await sut.acquire();
    let third: (() => void) | undefined;
    void sut.acquire().then((release) => (third = release));

    await Promise.resolve();
    expect(third).toBeUndefined();
    expect(sut.inUse).toBe(2);

    first();
    first(); // a second release of the same slot changes nothing
    await new Promise((resolve) => setImmediate(resolve));
    expect(third).toBeDefined();
    expect(sut.inUse).toBe(2);
  });

  it('refuses waiting and later requests once closed', async () => {
    const sut = new ConnectionSlots(1);
    await sut.acquire();
    const waiting = sut.acquire();

    sut.close(new Error('closed'));

    await expect(waiting).rejects.toThrow('closed');
    await expect(sut.acquire()).rejects.toThrow('closed');
  });
});
