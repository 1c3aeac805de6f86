import { type KeyObject, verify } from 'node:crypto';
import { type SnsMessage, stringToSign } from './sns-message';

/** SignatureVersion 1 is SHA1withRSA, 2 is SHA256withRSA. */
const ALGORITHMS: Readonly<Record<string, string>> = { '1': 'RSA-SHA1', '2': 'RSA-SHA256' };

export function isKnownSignatureVersion(version: string): boolean {
  return ALGORITHMS[version] !== undefined;
}

/** True when `message.Signature` is the signing key's signature of the message's string to sign. */
export function hasValidSignature(message: SnsMessage, signingKey: KeyObject): boolean {
  const algorithm = ALGORITHMS[message.SignatureVersion];
  if (!algorithm) return false;
  const signature = Buffer.from(message.Signature, 'base64');
  if (signature.length === 0) return false;
  try {
    return verify(algorithm, Buffer.from(stringToSign(message), 'utf8'), signingKey, signature);
  } catch {
    return false;
  }
}
