import 'reflect-metadata';
import { KeyObject, sign, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALGORITHM = {
  name: 'RSASSA-PKCS1-v1_5',
  hash: 'SHA-256',
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
};
const DAY_MS = 86_400_000;

export type SnsMessageFields = Record<string, string>;

/**
 * Signs SNS messages the way SNS does (AWS's "verifying the signatures of Amazon SNS messages"),
 * with an RSA key made for one test run; `certificatePem` is what its SigningCertURL serves.
 */
export class SnsSigner {
  private constructor(
    readonly certificatePem: string,
    private readonly privateKey: KeyObject,
  ) {}

  static async create(): Promise<SnsSigner> {
    const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: 'CN=sns.amazonaws.com',
      notBefore: new Date(Date.now() - DAY_MS),
      notAfter: new Date(Date.now() + DAY_MS),
      keys,
      signingAlgorithm: ALGORITHM,
    });
    return new SnsSigner(certificate.toString('pem'), KeyObject.from(keys.privateKey));
  }

  /** The message with its Signature: version 1 signs with SHA1withRSA, 2 with SHA256withRSA. */
  sign(fields: SnsMessageFields): SnsMessageFields {
    const order =
      fields.Type === 'Notification'
        ? ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type']
        : ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'];
    const text = order
      .filter((name) => fields[name] !== undefined)
      .map((name) => `${name}\n${fields[name]}\n`)
      .join('');
    const algorithm = fields.SignatureVersion === '1' ? 'RSA-SHA1' : 'RSA-SHA256';
    return { ...fields, Signature: sign(algorithm, Buffer.from(text), this.privateKey).toString('base64') };
  }
}
