import { setTimeout as sleep } from 'node:timers/promises';
import { BudgetStoreHealth } from './budget/budget-store-health';
import { FleetConnectionSlots } from './budget/fleet-connection-slots';
import { MemoryUpstreamBudgetStore } from './budget/memory-upstream-budget.store';
import { ConnectionAdmission } from './connection-admission';
import { UpstreamUnavailableException } from './upstream-unavailable.exception';

const TIMINGS = { heartbeatTtlMs: 10_000, rotationMs: 60_000, wantingMs: 2_000 };

describe(ConnectionAdmission.name, () => {
  let slots: FleetConnectionSlots;

  const slotsOf = (budget: number) =>
    new FleetConnectionSlots({
      host: 'api.provider.test',
      replica: 'a',
      budget,
      localLimit: 100,
      store: new MemoryUpstreamBudgetStore(TIMINGS),
      health: new BudgetStoreHealth('process', TIMINGS.heartbeatTtlMs),
    });

  afterEach(() => slots.close(new Error('test over')));

  it('admits a request per slot it can take, and the next one onto a connection that came free', async () => {
    slots = slotsOf(2);
    const sut = new ConnectionAdmission(slots, 'api.provider.test', 5_000);
    const first = await sut.admit();
    const second = await sut.admit();
    let thirdAdmitted = false;
    const admittingThird = sut.admit().then((done) => {
      thirdAdmitted = true;
      return done;
    });
    // The pool opens a connection for each admitted request, on the slots taken for them.
    const sockets = [await sut.connectionSlot(), await sut.connectionSlot()];
    await sleep(20);
    expect(thirdAdmitted).toBe(false);
    expect(slots.inUse).toBe(2);

    first();
    const third = await admittingThird; // onto the socket the first request left free: no slot more
    expect(slots.inUse).toBe(2);
    second();
    third();
    for (const close of sockets) close();
    expect(slots.inUse).toBe(0);
  });

  it('stops asking for a slot once a connection came free for the waiting request', async () => {
    slots = slotsOf(1);
    const sut = new ConnectionAdmission(slots, 'api.provider.test', 5_000);
    const first = await sut.admit();
    const socket = await sut.connectionSlot();
    const waiting = sut.admit();
    first(); // the waiting request takes the socket
    const second = await waiting;
    second();
    await sleep(20);
    expect(slots.inUse).toBe(1); // the socket's slot only
    socket();
    expect(slots.inUse).toBe(0);
  });

  it('answers "unavailable" to a request that waited the longest allowed, and lets its slot go', async () => {
    slots = slotsOf(1);
    const sut = new ConnectionAdmission(slots, 'api.provider.test', 100);
    const first = await sut.admit();
    const socket = await sut.connectionSlot();

    await expect(sut.admit()).rejects.toBeInstanceOf(UpstreamUnavailableException);
    first();
    socket();
    await sleep(20);
    expect(slots.inUse).toBe(0);
  });

  it('stops waiting when the request is aborted', async () => {
    slots = slotsOf(1);
    const sut = new ConnectionAdmission(slots, 'api.provider.test', 5_000);
    await sut.admit();
    await sut.connectionSlot();
    const aborted = new AbortController();
    const waiting = sut.admit(aborted.signal);
    aborted.abort(new Error('shutting down'));
    await expect(waiting).rejects.toThrow('shutting down');
  });
});
