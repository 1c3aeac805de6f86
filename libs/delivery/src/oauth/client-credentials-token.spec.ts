// OAuth 2.0 client credentials grant and token response: RFC 6749 §4.4 and §5.1/§5.2
// (https://www.rfc-editor.org/rfc/rfc6749#section-4.4). Flowmailer's use of it (form body with
// client_id, client_secret, grant_type=client_credentials, scope=api; answer with access_token,
// expires_in, token_type bearer): https://flowmailer.com/apidoc/flowmailer-api.html (Authentication)
// and the OAuthTokenResponse model of https://github.com/flowmailer/flowmailer-php-sdk.
import { ScriptedUpstream } from '@mailgateway/testing';
import { UpstreamUnavailableException } from '../upstream';
import { ClientCredentialsToken } from './client-credentials-token';
import { TokenRequestException } from './token-request.exception';

describe(ClientCredentialsToken.name, () => {
  const secret = 'client-secret-value';
  const grant = (token: string, expiresIn: number | null = 3600) => ({
    statusCode: 200,
    body: {
      access_token: token,
      token_type: 'bearer',
      ...(expiresIn === null ? {} : { expires_in: expiresIn }),
    },
  });
  let now: number;
  let upstream: ScriptedUpstream;
  let sut: ClientCredentialsToken;

  beforeEach(() => {
    now = 1_700_000_000_000;
    upstream = new ScriptedUpstream('https://login.example.com');
    sut = new ClientCredentialsToken(
      upstream,
      {
        tokenUrl: 'https://login.example.com/oauth/token?realm=a',
        clientId: 'client-a',
        clientSecret: secret,
        scope: 'api',
        headers: { Accept: 'application/vnd.example+json' },
      },
      () => now,
    );
  });

  it('asks for a token with the client credentials in a form body', async () => {
    upstream.reply(grant('token-1'));

    await expect(sut.get()).resolves.toBe('token-1');

    const [request] = upstream.requests;
    expect(request).toMatchObject({
      method: 'POST',
      path: '/oauth/token?realm=a',
      idempotent: true,
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Accept: 'application/vnd.example+json',
      },
    });
    expect(Object.fromEntries(new URLSearchParams(String(request.body)))).toEqual({
      grant_type: 'client_credentials',
      client_id: 'client-a',
      client_secret: secret,
      scope: 'api',
    });
  });

  it('makes one token request for many concurrent callers', async () => {
    let answer!: () => void;
    upstream.reply(() => new Promise((resolve) => (answer = () => resolve(grant('token-1')))));

    const callers = Array.from({ length: 10 }, () => sut.get());
    await Promise.resolve();
    answer();

    await expect(Promise.all(callers)).resolves.toEqual(Array(10).fill('token-1'));
    expect(upstream.requests).toHaveLength(1);
  });

  it('reuses the token until 30 s before it expires', async () => {
    upstream.reply(grant('token-1', 3600), grant('token-2', 3600));
    await sut.get();

    now += 3_570_000 - 1;
    await expect(sut.get()).resolves.toBe('token-1');
    now += 1;
    await expect(sut.get()).resolves.toBe('token-2');
    expect(upstream.requests).toHaveLength(2);
  });

  it('renews a short-lived token when 10% of its lifetime is left', async () => {
    upstream.reply(grant('token-1', 60), grant('token-2', 60));
    await sut.get();

    now += 54_000 - 1;
    await expect(sut.get()).resolves.toBe('token-1');
    now += 1;
    await expect(sut.get()).resolves.toBe('token-2');
  });

  it('fetches a new token once the old one has expired', async () => {
    upstream.reply(grant('token-1', 60), grant('token-2', 60));
    await sut.get();

    now += 3_600_000;

    await expect(sut.get()).resolves.toBe('token-2');
  });

  it('keeps a token without expires_in for five minutes', async () => {
    upstream.reply(grant('token-1', null), grant('token-2'));
    await sut.get();

    now += 270_000 - 1;
    await expect(sut.get()).resolves.toBe('token-1');
    now += 1;
    await expect(sut.get()).resolves.toBe('token-2');
  });

  describe('invalidate', () => {
    it('makes the next caller fetch a new token', async () => {
      upstream.reply(grant('token-1'), grant('token-2'));
      const token = await sut.get();

      sut.invalidate(token);

      await expect(sut.get()).resolves.toBe('token-2');
    });

    it('leaves a token alone that has already been replaced', async () => {
      upstream.reply(grant('token-1'), grant('token-2'));
      await sut.get();
      sut.invalidate('token-1');
      await sut.get();

      sut.invalidate('token-1');
      sut.invalidate('unknown');

      await expect(sut.get()).resolves.toBe('token-2');
      expect(upstream.requests).toHaveLength(2);
    });

    it('refreshes once when several callers report the same refused token', async () => {
      upstream.reply(grant('token-1'), grant('token-2'));
      const [first, second] = await Promise.all([sut.get(), sut.get()]);

      sut.invalidate(first);
      const firstRenewal = sut.get();
      sut.invalidate(second);
      const secondRenewal = sut.get();

      await expect(Promise.all([firstRenewal, secondRenewal])).resolves.toEqual(['token-2', 'token-2']);
      expect(upstream.requests).toHaveLength(2);
    });
  });

  describe('token endpoint failures', () => {
    it('reports a refusal with its OAuth error, never the secret', async () => {
      upstream.reply({
        statusCode: 401,
        body: { error: 'invalid_client', error_description: 'Bad client credentials' },
      });

      const error = await sut.get().catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(TokenRequestException);
      expect(error).toMatchObject({
        statusCode: 401,
        message: 'token endpoint answered HTTP 401: invalid_client (Bad client credentials)',
      });
      expect(String((error as Error).message)).not.toContain(secret);
    });

    it('reports an unreachable endpoint', async () => {
      upstream.reply(new UpstreamUnavailableException('login.example.com: connection refused'));

      await expect(sut.get()).rejects.toThrow(
        new TokenRequestException('token endpoint unreachable: login.example.com: connection refused'),
      );
    });

    it.each([
      ['no access_token', { statusCode: 200, body: { token_type: 'bearer' } }],
      ['a body that is not JSON', { statusCode: 200, body: '<html>maintenance</html>' }],
      [
        'a token that is not a bearer token',
        { statusCode: 200, body: { access_token: 't', token_type: 'mac' } },
      ],
      ['a server error', { statusCode: 503, body: '' }],
    ])('rejects an answer with %s', async (_case, reply) => {
      upstream.reply(reply);

      await expect(sut.get()).rejects.toBeInstanceOf(TokenRequestException);
    });

    it('does not remember a failure: the next caller asks again', async () => {
      upstream.reply({ statusCode: 503 }, grant('token-1'));
      await expect(sut.get()).rejects.toBeInstanceOf(TokenRequestException);

      await expect(sut.get()).resolves.toBe('token-1');
    });

    it('never includes the token in an error', async () => {
      upstream.reply({ statusCode: 200, body: { access_token: 'leaky-token', token_type: 'mac' } });

      await expect(sut.get()).rejects.toThrow(
        expect.objectContaining({ message: expect.not.stringContaining('leaky') }),
      );
    });
  });

  describe('abort', () => {
    it('lets one caller give up while the others still get the token', async () => {
      let answer!: () => void;
      upstream.reply(() => new Promise((resolve) => (answer = () => resolve(grant('token-1')))));
      const controller = new AbortController();

      const leaving = sut.get(controller.signal);
      const staying = sut.get();
      controller.abort(new Error('shutting down'));
      answer();

      await expect(leaving).rejects.toThrow('shutting down');
      await expect(staying).resolves.toBe('token-1');
    });

    it('rejects at once when the signal is already aborted', async () => {
      const controller = new AbortController();
      controller.abort(new Error('shutting down'));

      await expect(sut.get(controller.signal)).rejects.toThrow('shutting down');
    });

    it('leaves no unhandled rejection when every caller left before the request failed', async () => {
      let fail!: () => void;
      upstream.reply(() => new Promise((_resolve, reject) => (fail = () => reject(new Error('reset')))));
      const controller = new AbortController();

      const leaving = sut.get(controller.signal);
      controller.abort(new Error('shutting down'));
      await expect(leaving).rejects.toThrow('shutting down');
      fail();
      await new Promise((resolve) => setImmediate(resolve));

      upstream.reply(grant('token-2'));
      await expect(sut.get()).resolves.toBe('token-2');
    });
  });
});
