import { Metadata, status } from '@grpc/grpc-js';
import { formatFigures, OutcomeLedger } from './outcome-ledger';

const serviceError = (code: status, details = '') =>
  Object.assign(new Error(details), { code, details, metadata: new Metadata() });

describe(OutcomeLedger.name, () => {
  it('counts lost, duplicate and unexpected deliveries against the acknowledged calls', () => {
    const sut = new OutcomeLedger();
    sut.record('a', { kind: 'ok', messageId: 'id-a' });
    sut.record('b', { kind: 'unknown', code: 'DEADLINE_EXCEEDED' });
    sut.record('b', { kind: 'ok', messageId: 'id-b' });
    sut.record('c', { kind: 'ok', messageId: 'id-c' });
    sut.record('d', { kind: 'failed', code: 'INVALID_ARGUMENT' });

    const figures = sut.figures(['id-a', 'id-b', 'id-b', 'id-x']);

    expect(figures).toEqual({
      calls: 5,
      ok: 3,
      failed: 1,
      unknown: 1,
      acknowledged: 3,
      deliveries: 4,
      delivered: 3,
      lost: 1,
      duplicates: 1,
      unexpected: 1,
    });
    expect(formatFigures('x', figures, { kills: 2 })).toMatch(
      /^\[reliability x\] calls=5 .* lost=1 .* kills=2$/,
    );
  });

  it('flags a key acknowledged with two different message ids', () => {
    const sut = new OutcomeLedger();
    sut.record('a', { kind: 'ok', messageId: 'id-1' });
    sut.record('a', { kind: 'ok', messageId: 'id-1' });
    sut.record('a', { kind: 'ok', messageId: 'id-2' });

    expect(sut.idempotencyConflicts).toEqual(['a']);
  });

  it('treats a refusal from the gateway as failed and a lost answer as unknown', () => {
    expect(OutcomeLedger.outcomeOf(serviceError(status.RESOURCE_EXHAUSTED))).toEqual({
      kind: 'failed',
      code: 'RESOURCE_EXHAUSTED',
    });
    expect(
      OutcomeLedger.outcomeOf(serviceError(status.UNAVAILABLE, 'storage is unavailable; retry with backoff')),
    ).toEqual({ kind: 'failed', code: 'UNAVAILABLE' });
    expect(
      OutcomeLedger.outcomeOf(
        serviceError(status.UNAVAILABLE, 'rate limiter unavailable; retry with backoff'),
      ),
    ).toEqual({ kind: 'failed', code: 'UNAVAILABLE' });
    expect(OutcomeLedger.outcomeOf(serviceError(status.UNAVAILABLE, 'No connection established'))).toEqual({
      kind: 'unknown',
      code: 'UNAVAILABLE',
    });
    expect(OutcomeLedger.outcomeOf(serviceError(status.DEADLINE_EXCEEDED))).toEqual({
      kind: 'unknown',
      code: 'DEADLINE_EXCEEDED',
    });
  });
});
