import { Test, TestingModule } from '@nestjs/testing';
import { ConfigurationException, loadConfigSlice } from '@mailgateway/config';
import type { Mail } from '@mailgateway/contracts';
import {
  DriverDefinition,
  MailDriver,
  UpstreamOutcomeUnknownException,
  UpstreamRegistry,
  UpstreamUnavailableException,
} from '@mailgateway/delivery';
import { aMail, anOutboundMessage } from './mail-fixtures';
import { ScriptedReply, ScriptedUpstream, ScriptedUpstreamRegistry } from './scripted-upstream';

/** What the contract needs to know of one driver to drive it. */
export interface MailDriverContractSubject {
  /** The driver's registry entry: the contract builds it from there, as the gateway does. */
  readonly definition: DriverDefinition;
  /** Its settings (with credentials) for the contract's runs. */
  readonly env: Readonly<Record<string, string>>;
  /** Settings in `env` it cannot start without. */
  readonly requires?: readonly string[];
  /**
   * Drivers that open their own connections (SMTP) get a real registry from here, one per build,
   * instead of the scripted one; the servers `env` points at are the spec's to run.
   */
  readonly registry?: () => UpstreamRegistry;
  /** Drivers that call a provider: where, and how the provider says "taken". */
  readonly upstream?: {
    /** Origin of the API the messages go to. */
    readonly origin: string;
    readonly accepted: ScriptedReply;
    /** Scripts what else the driver asks for before sending (e.g. a token endpoint). */
    readonly prepare?: (registry: ScriptedUpstreamRegistry) => void;
  };
}

/**
 * What every driver promises the dispatcher, whatever its provider: outcomes as values for every
 * answer (accepted, retry with the provider's delay, permanent), transport failures as retries
 * (flagged when the request may have arrived), unclassifiable faults rejected, the message's
 * content in the request, the shutdown signal passed on, and no start without its required
 * settings, each named. Each driver's spec runs it.
 */
export function describeMailDriverContract(subject: MailDriverContractSubject): void {
  const { definition } = subject;
  const mail: Mail = aMail({
    subject: 'Contract subject',
    to: [{ address: 'ada@example.org', name: 'Ada' }],
    attachments: [
      { fileName: 'a.bin', contentType: 'application/octet-stream', content: Buffer.from([1, 2, 250]) },
    ],
  });
  const message = anOutboundMessage({ mail });

  describe(`${definition.name} driver: the mail driver contract`, () => {
    let registry: ScriptedUpstreamRegistry;
    let sut: MailDriver;
    let api: ScriptedUpstream | undefined;
    const modules: TestingModule[] = [];

    // Through DI with only what the gateway provides: its settings slice and the upstream registry.
    const build = async (env: Readonly<Record<string, string | undefined>>): Promise<MailDriver> => {
      const settings = definition.config
        ? [{ provide: definition.config.token, useValue: loadConfigSlice(definition.config, env) }]
        : [];
      const upstreams = subject.registry?.() ?? registry.asRegistry();
      const moduleRef = await Test.createTestingModule({
        providers: [definition.driver, ...settings, { provide: UpstreamRegistry, useValue: upstreams }],
      })
        .compile()
        .catch(async (error: unknown) => {
          await (upstreams as Partial<UpstreamRegistry>).onModuleDestroy?.();
          throw error;
        });
      modules.push(moduleRef);
      return moduleRef.get(definition.driver);
    };

    beforeEach(async () => {
      registry = new ScriptedUpstreamRegistry();
      api = subject.upstream && registry.client(subject.upstream.origin);
      subject.upstream?.prepare?.(registry);
      sut = await build(subject.env);
    });

    // Closes what the drivers opened (pooled connections, the registry's address books).
    afterEach(async () => {
      await Promise.all(modules.splice(0).map((moduleRef) => moduleRef.close()));
    });

    it('is registered under its own name', () => {
      expect(sut.name).toBe(definition.name);
    });

    for (const variable of subject.requires ?? []) {
      it(`refuses to start without ${variable}, naming it`, async () => {
        const refusal = build({ ...subject.env, [variable]: undefined });
        await expect(refusal).rejects.toBeInstanceOf(ConfigurationException);
        await expect(refusal).rejects.toMatchObject({
          problems: [`${variable}: required when MAIL_DRIVER is ${definition.name}`],
        });
      });
    }

    it('accepts a message the provider takes, with an id the outbox can keep', async () => {
      api?.reply(subject.upstream!.accepted);
      const outcome = await sut.send(message, new AbortController().signal);
      expect(outcome.kind).toBe('accepted');
      if (outcome.kind === 'accepted' && outcome.providerMessageId !== undefined) {
        expect(outcome.providerMessageId.length).toBeGreaterThan(0);
        expect(outcome.providerMessageId.length).toBeLessThanOrEqual(255);
      }
    });

    if (!subject.upstream) return;
    const { accepted } = subject.upstream;

    it('puts the message in the request: subject, recipients, attachment bytes', async () => {
      api!.reply(accepted);
      await sut.send(message, new AbortController().signal);
      const body = String(api!.requests.at(-1)?.body);
      expect(body).toContain('Contract subject');
      expect(body).toContain('ada@example.org');
      expect(body).toContain(Buffer.from([1, 2, 250]).toString('base64'));
    });

    it('passes the shutdown signal on to the request', async () => {
      const signal = new AbortController().signal;
      api!.reply(accepted);
      await sut.send(message, signal);
      expect(api!.requests.at(-1)?.signal).toBe(signal);
    });

    it('retries "not now" answers, honouring Retry-After', async () => {
      api!.reply({ statusCode: 503, headers: { 'retry-after': '7' }, body: '' });
      expect(await sut.send(message, new AbortController().signal)).toMatchObject({
        kind: 'retry',
        retryAfterMs: 7000,
      });
      api!.reply({ statusCode: 429, headers: {}, body: '' });
      expect((await sut.send(message, new AbortController().signal)).kind).toBe('retry');
    });

    it('fails a message the provider refuses as malformed, for good', async () => {
      api!.reply({ statusCode: 400, headers: {}, body: '' });
      expect((await sut.send(message, new AbortController().signal)).kind).toBe('permanent');
    });

    it('retries when no address took the request, without flagging a possible duplicate', async () => {
      api!.reply(new UpstreamUnavailableException('api: connection refused'));
      expect(await sut.send(message, new AbortController().signal)).toEqual({
        kind: 'retry',
        reason: 'api: connection refused',
      });
    });

    it('retries when the connection broke after sending, flagged as a possible duplicate', async () => {
      api!.reply(new UpstreamOutcomeUnknownException('api: socket hang up'));
      expect(await sut.send(message, new AbortController().signal)).toEqual({
        kind: 'retry',
        reason: 'api: socket hang up',
        outcomeUnknown: true,
      });
    });

    it('rejects a fault it cannot classify, for the dispatcher to retry as a driver error', async () => {
      api!.reply(new TypeError('a bug'));
      await expect(sut.send(message, new AbortController().signal)).rejects.toThrow('a bug');
    });
  });
}
