import { ErrorCode } from './error-code';
import { GatewayException } from './gateway.exception';

class WrongThingException extends GatewayException {
  readonly code = ErrorCode.InvalidArgument;
}

describe(GatewayException.name, () => {
  it('names the field in the message and keeps the bare reason apart', () => {
    const sut = new WrongThingException('must be a UUID', { field: 'message_id' });
    expect(sut.message).toBe('message_id: must be a UUID');
    expect(sut.reason).toBe('must be a UUID');
    expect(sut.field).toBe('message_id');
  });

  it('takes the name of the class that was thrown and keeps its cause', () => {
    const cause = new Error('ECONNREFUSED');
    const sut = new WrongThingException('storage is unavailable', { cause });
    expect(sut.name).toBe('WrongThingException');
    expect(sut.cause).toBe(cause);
    expect(sut).toBeInstanceOf(GatewayException);
    expect(sut).toBeInstanceOf(Error);
  });
});
