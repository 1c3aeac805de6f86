import { decideConnection, FleetHolding, shareAt } from './fair-share';

const ROTATION = 60_000;
/** A rotation whose number every live count here divides: ranks equal positions. */
const NOW = 1_200 * ROTATION;
const holding = (replica: string, held: number, waiting = false): FleetHolding => ({
  replica,
  held,
  wantingUntil: waiting ? NOW + 1_000 : 0,
});

describe(decideConnection.name, () => {
  it('splits the budget into shares that add up to it exactly', () => {
    const shares = (live: number, budget: number) =>
      Array.from({ length: live }, (_, index) => shareAt(index, live, budget, NOW, ROTATION));
    expect(shares(1, 10)).toEqual([10]);
    expect(shares(2, 10)).toEqual([5, 5]);
    expect(shares(3, 10)).toEqual([4, 3, 3]);
    expect(shares(3, 6)).toEqual([2, 2, 2]);
    expect(shares(4, 2)).toEqual([1, 1, 0, 0]);
  });

  it('moves the extra connections to other replicas each rotation', () => {
    const next = NOW + ROTATION;
    expect([0, 1, 2].map((index) => shareAt(index, 3, 10, next, ROTATION))).toEqual([3, 3, 4]);
    expect([0, 1, 2, 3].map((index) => shareAt(index, 4, 2, next, ROTATION))).toEqual([1, 0, 0, 1]);
  });

  it('grants a replica under its share while the fleet is under the budget', () => {
    const decision = decideConnection([holding('a', 1), holding('b', 2)], 'a', 6, NOW, ROTATION);
    expect(decision).toEqual({ granted: true, share: 3, replicas: 2, total: 4 });
  });

  it('never grants beyond the budget, whatever the shares', () => {
    expect(decideConnection([holding('a', 0), holding('b', 6)], 'a', 6, NOW, ROTATION).granted).toBe(false);
  });

  it('lets a replica borrow what nobody who waits is owed', () => {
    expect(decideConnection([holding('a', 3), holding('b', 1)], 'a', 6, NOW, ROTATION).granted).toBe(true);
  });

  it('refuses to lend while another replica waits below its share', () => {
    const decision = decideConnection([holding('a', 3), holding('b', 1, true)], 'a', 6, NOW, ROTATION);
    expect(decision).toMatchObject({ granted: false, share: 3, total: 4 });
  });

  it('ignores a waiting mark that has run out', () => {
    const stale = { replica: 'b', held: 1, wantingUntil: NOW - 1 };
    expect(decideConnection([holding('a', 3), stale], 'a', 6, NOW, ROTATION).granted).toBe(true);
  });

  it('does not count as owed a replica waiting at or above its share', () => {
    expect(decideConnection([holding('a', 3), holding('b', 3, true)], 'a', 8, NOW, ROTATION).granted).toBe(
      true,
    );
  });
});
