import { ConfigurationException } from '@mailgateway/config';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import XOAuth2 from 'nodemailer/lib/xoauth2';
import { ClientCredentialsToken } from '../../oauth/client-credentials-token';
import type { UpstreamRegistry } from '../../upstream';
import type { SmtpAuthMethod, SmtpConfig } from './smtp.settings';

export interface SmtpCredentials {
  readonly method: SmtpAuthMethod;
  /** What nodemailer's SMTPConnection.login() takes, or undefined for no AUTH. */
  readonly auth?: SMTPConnection.AuthenticationType;
  /** The settings to look at when the relay refuses them. */
  readonly hint: string;
}

/**
 * AUTH as configured: PLAIN or LOGIN with SMTP_USERNAME/SMTP_PASSWORD, XOAUTH2 with a bearer
 * token (static, or fetched with client credentials and reused until shortly before it expires),
 * or none. Throws a ConfigurationException naming every missing or contradictory setting.
 */
export function smtpCredentials(config: SmtpConfig, registry: UpstreamRegistry): SmtpCredentials {
  const method = config.authMethod ?? (config.username ? 'plain' : 'none');
  const problems: string[] = [];
  const need = (name: string, value: string | undefined) => {
    if (!value) problems.push(`${name}: required when SMTP_AUTH_METHOD is ${method}`);
  };
  let credentials: SmtpCredentials;
  switch (method) {
    case 'none':
      if (config.username || config.password) {
        problems.push('SMTP_AUTH_METHOD: is none, but SMTP_USERNAME or SMTP_PASSWORD is set');
      }
      credentials = { method, hint: 'the relay wants AUTH: set SMTP_USERNAME/SMTP_PASSWORD' };
      break;
    case 'plain':
    case 'login':
      need('SMTP_USERNAME', config.username);
      need('SMTP_PASSWORD', config.password);
      credentials = {
        method,
        auth: { user: config.username, pass: config.password, method: method.toUpperCase() },
        hint: 'check SMTP_USERNAME/SMTP_PASSWORD',
      };
      break;
    case 'xoauth2': {
      need('SMTP_USERNAME', config.username);
      const fetched = config.oauthTokenUrl !== undefined;
      if (fetched) {
        need('SMTP_OAUTH_CLIENT_ID', config.oauthClientId);
        need('SMTP_OAUTH_CLIENT_SECRET', config.oauthClientSecret);
        if (config.oauthToken) problems.push('SMTP_OAUTH_TOKEN: set beside SMTP_OAUTH_TOKEN_URL; use one');
      } else if (!config.oauthToken) {
        problems.push(
          'SMTP_OAUTH_TOKEN: required when SMTP_AUTH_METHOD is xoauth2 (or SMTP_OAUTH_TOKEN_URL with SMTP_OAUTH_CLIENT_ID and SMTP_OAUTH_CLIENT_SECRET)',
        );
      }
      if (problems.length > 0) break;
      const token = fetched
        ? new ClientCredentialsToken(registry.client(config.oauthTokenUrl!), {
            tokenUrl: config.oauthTokenUrl!,
            clientId: config.oauthClientId!,
            clientSecret: config.oauthClientSecret!,
            scope: config.oauthScope,
          })
        : undefined;
      let lastToken: string | undefined;
      const oauth2 = new XOAuth2({
        user: config.username,
        // Asked on every AUTH: the token cache decides whether a new token is needed. `renew` is
        // set when the relay refused the last one.
        provisionCallback: (_user, renew, callback) => {
          if (!token) return callback(null, config.oauthToken!, Date.now());
          if (renew && lastToken) token.invalidate(lastToken);
          token.get().then(
            (value) => {
              lastToken = value;
              callback(null, value, Date.now());
            },
            (error: unknown) => callback(error as Error),
          );
        },
      });
      credentials = {
        method,
        auth: { type: 'OAUTH2', user: config.username, oauth2, method: 'XOAUTH2' },
        hint: fetched
          ? 'check SMTP_USERNAME and SMTP_OAUTH_CLIENT_ID/SMTP_OAUTH_CLIENT_SECRET'
          : 'check SMTP_USERNAME and SMTP_OAUTH_TOKEN',
      };
      break;
    }
  }
  if (problems.length > 0) throw new ConfigurationException(problems);
  return credentials!;
}
