import { boolean, defineConfig, integer, setting } from '@mailgateway/config';
import { z } from 'zod';

export type SmtpAuthMethod = 'none' | 'plain' | 'login' | 'xoauth2';

export interface SmtpConfig {
  /** smtp://host:port (STARTTLS) or smtps://host:port (implicit TLS). */
  readonly url?: string;
  readonly requireTls: boolean;
  readonly username?: string;
  readonly password?: string;
  readonly authMethod?: SmtpAuthMethod;
  readonly oauthToken?: string;
  readonly oauthTokenUrl?: string;
  readonly oauthClientId?: string;
  readonly oauthClientSecret?: string;
  readonly oauthScope?: string;
  readonly connectTimeoutMs: number;
  readonly greetingTimeoutMs: number;
  readonly socketTimeoutMs: number;
  readonly maxMessagesPerConnection: number;
  readonly messageIdDomain?: string;
  readonly ehloName?: string;
}

// A hostname as RFC 1123 allows it (no IP literal): what EHLO and Message-ID domains carry.
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

const relayUrl = z
  .string()
  .url()
  .refine((value) => ['smtp:', 'smtps:'].includes(new URL(value).protocol), {
    message: 'must start with smtp:// (STARTTLS) or smtps:// (implicit TLS)',
  })
  .refine((value) => !new URL(value).username && !new URL(value).password, {
    message: 'must not carry credentials: use SMTP_USERNAME and SMTP_PASSWORD',
  })
  .refine((value) => ['', '/'].includes(new URL(value).pathname) && !new URL(value).search, {
    message: 'must be only scheme, host and port',
  });

export const smtpConfig = defineConfig({
  name: 'smtp driver',
  settings: {
    SMTP_URL: setting({
      description:
        'Driver "smtp": the relay. smtp://host:port upgrades with STARTTLS (port 587 by default), smtps://host:port speaks TLS from the start (port 465 by default). Every A/AAAA address of the host is used, with failover; certificates are verified against this hostname.',
      schema: relayUrl.optional(),
      upstreamUrl: true,
    }),
    SMTP_REQUIRE_TLS: setting({
      description:
        'Driver "smtp": with smtp://, refuse a relay that does not offer STARTTLS. Only for a relay on the same host or pod: "false" still upgrades whenever STARTTLS is offered, and certificates are always verified.',
      schema: boolean.default(true),
    }),
    SMTP_USERNAME: setting({
      description:
        'Driver "smtp": user for AUTH (PLAIN or LOGIN), or the mailbox an XOAUTH2 token is for. Some relays take an API key as user.',
      schema: z.string().min(1).optional(),
      sensitive: true,
    }),
    SMTP_PASSWORD: setting({
      description: 'Driver "smtp": password for AUTH PLAIN or LOGIN.',
      schema: z.string().min(1).optional(),
      sensitive: true,
    }),
    SMTP_AUTH_METHOD: setting({
      description:
        'Driver "smtp": "plain", "login", "xoauth2" (a bearer token: SMTP_OAUTH_TOKEN, or one fetched with SMTP_OAUTH_TOKEN_URL and client credentials) or "none". Unset: "plain" when SMTP_USERNAME is set, else "none". When a method is set the relay must accept it: the gateway never falls back to sending unauthenticated.',
      schema: z.enum(['none', 'plain', 'login', 'xoauth2']).optional(),
    }),
    SMTP_OAUTH_TOKEN: setting({
      description: 'Driver "smtp": a static bearer token for XOAUTH2.',
      schema: z.string().min(1).optional(),
      sensitive: true,
    }),
    SMTP_OAUTH_TOKEN_URL: setting({
      description:
        'Driver "smtp": OAuth2 token endpoint for XOAUTH2 tokens (client credentials grant), e.g. https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token. Tokens are reused until shortly before they expire.',
      schema: z.string().url().optional(),
      upstreamUrl: true,
    }),
    SMTP_OAUTH_CLIENT_ID: setting({
      description: 'Driver "smtp": OAuth2 client id for SMTP_OAUTH_TOKEN_URL.',
      schema: z.string().min(1).optional(),
    }),
    SMTP_OAUTH_CLIENT_SECRET: setting({
      description: 'Driver "smtp": OAuth2 client secret for SMTP_OAUTH_TOKEN_URL.',
      schema: z.string().min(1).optional(),
      sensitive: true,
    }),
    SMTP_OAUTH_SCOPE: setting({
      description:
        'Driver "smtp": scope asked of SMTP_OAUTH_TOKEN_URL, e.g. https://outlook.office365.com/.default.',
      schema: z.string().min(1).optional(),
    }),
    SMTP_CONNECT_TIMEOUT_MS: setting({
      description:
        'Driver "smtp": time allowed to open a connection to one relay address (the TLS handshake of smtps:// included); then the next address is tried.',
      schema: integer(100, 120_000).default(10_000),
    }),
    SMTP_GREETING_TIMEOUT_MS: setting({
      description:
        'Driver "smtp": time allowed for the relay\'s 220 greeting once connected; then the next address is tried.',
      schema: integer(100, 300_000).default(10_000),
    }),
    SMTP_SOCKET_TIMEOUT_MS: setting({
      description:
        'Driver "smtp": longest silence allowed from the relay during a session. Before the end of DATA the message goes to another address; after the final dot its outcome is unknown (it may have been taken), so it is retried later, never resent at once.',
      schema: integer(100, 3_600_000).default(60_000),
    }),
    SMTP_MAX_MESSAGES_PER_CONNECTION: setting({
      description:
        'Driver "smtp": messages sent over one connection before it is closed and a new one opened.',
      schema: integer(1, 100_000).default(100),
    }),
    SMTP_MESSAGE_ID_DOMAIN: setting({
      description:
        'Driver "smtp": domain of the Message-ID header (the part after "@"; before it, the message id). Unset: the domain of the sender address.',
      schema: z.string().regex(HOSTNAME, 'must be a domain name').optional(),
    }),
    SMTP_EHLO_NAME: setting({
      description:
        'Driver "smtp": the name the gateway gives in EHLO. Unset: this machine\'s hostname when it is fully qualified, else "[127.0.0.1]" (what nodemailer sends).',
      schema: z.string().regex(HOSTNAME, 'must be a domain name').optional(),
    }),
  },
  build: (values): SmtpConfig => ({
    url: values.SMTP_URL,
    requireTls: values.SMTP_REQUIRE_TLS,
    username: values.SMTP_USERNAME,
    password: values.SMTP_PASSWORD,
    authMethod: values.SMTP_AUTH_METHOD,
    oauthToken: values.SMTP_OAUTH_TOKEN,
    oauthTokenUrl: values.SMTP_OAUTH_TOKEN_URL,
    oauthClientId: values.SMTP_OAUTH_CLIENT_ID,
    oauthClientSecret: values.SMTP_OAUTH_CLIENT_SECRET,
    oauthScope: values.SMTP_OAUTH_SCOPE,
    connectTimeoutMs: values.SMTP_CONNECT_TIMEOUT_MS,
    greetingTimeoutMs: values.SMTP_GREETING_TIMEOUT_MS,
    socketTimeoutMs: values.SMTP_SOCKET_TIMEOUT_MS,
    maxMessagesPerConnection: values.SMTP_MAX_MESSAGES_PER_CONNECTION,
    messageIdDomain: values.SMTP_MESSAGE_ID_DOMAIN,
    ehloName: values.SMTP_EHLO_NAME,
  }),
});
