import { GroupCommit } from './group-commit';

describe(GroupCommit.name, () => {
  const deferred = () => {
    let resolve!: () => void;
    const promise = new Promise<void>((done) => (resolve = done));
    return { promise, resolve };
  };

  it('commits callers that arrive during a commit together, and answers each with its own results', async () => {
    const commits: number[][] = [];
    const gate = deferred();
    const sut = new GroupCommit<number, string>(
      async (items) => {
        commits.push(items);
        if (commits.length === 1) await gate.promise;
        return items.map((item) => `done ${item}`);
      },
      1,
      100,
      'test commit',
    );

    const first = sut.submit([1]);
    const second = sut.submit([2, 3]);
    const third = sut.submit([4]);
    gate.resolve();

    expect(await first).toEqual(['done 1']);
    expect(await second).toEqual(['done 2', 'done 3']);
    expect(await third).toEqual(['done 4']);
    expect(commits).toEqual([[1], [2, 3, 4]]);
  });

  it('fails every caller of a failed commit and goes on with the next group', async () => {
    const gate = deferred();
    let calls = 0;
    const sut = new GroupCommit<number, number>(
      async (items) => {
        calls++;
        if (calls === 1) {
          await gate.promise;
          return items;
        }
        if (calls === 2) throw new Error('database gone');
        return items;
      },
      1,
      100,
      'test commit',
    );

    const first = sut.submit([1]);
    const second = sut.submit([2]);
    const third = sut.submit([3]);
    gate.resolve();
    await expect(first).resolves.toEqual([1]);
    await expect(second).rejects.toThrow('database gone');
    await expect(third).rejects.toThrow('database gone');
    await expect(sut.submit([4])).resolves.toEqual([4]);
  });

  it('caps the items in one commit and runs up to the allowed commits side by side', async () => {
    const gate = deferred();
    const commits: number[][] = [];
    let concurrent = 0;
    let maxConcurrent = 0;
    const sut = new GroupCommit<number, number>(
      async (items) => {
        commits.push(items);
        maxConcurrent = Math.max(maxConcurrent, ++concurrent);
        await gate.promise;
        concurrent--;
        return items;
      },
      2,
      3,
      'test commit',
    );

    const all = Promise.all([1, 2, 3, 4, 5, 6, 7].map((item) => sut.submit([item])));
    await new Promise((resolve) => setImmediate(resolve));
    gate.resolve();
    await all;

    expect(maxConcurrent).toBe(2);
    // Two commit slots: the first two callers start at once, the rest queue in groups of at most three.
    expect(commits).toEqual([[1], [2], [3, 4, 5], [6, 7]]);
  });

  it('refuses a caller at once when the waiting items would pass the queue limit', async () => {
    const gate = deferred();
    const sut = new GroupCommit<number, number>(
      async (items) => {
        await gate.promise;
        return items;
      },
      1,
      100,
      'test commit',
      { items: 3, refuse: (waiting) => new Error(`${waiting} waiting`) },
    );

    const committing = sut.submit([1]); // taken by the running commit: no longer waiting
    const queued = sut.submit([2, 3]);
    const refused = sut.submit([4, 5]);
    const fits = sut.submit([6]);
    await expect(refused).rejects.toThrow('2 waiting');
    expect(() => sut.admit(1)).toThrow('3 waiting');
    gate.resolve();

    expect(await committing).toEqual([1]);
    expect(await queued).toEqual([2, 3]);
    expect(await fits).toEqual([6]);
    // Once the queue has drained, a batch larger than the limit still goes through alone.
    await expect(sut.submit([7, 8, 9, 10])).resolves.toEqual([7, 8, 9, 10]);
  });
});
