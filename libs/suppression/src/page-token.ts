import { SuppressionException, SuppressionProblem } from './suppression.exception';

/** Where a page of the list ends: the last (address, scope) it holds. */
export interface ListPosition {
  readonly address: string;
  readonly scope: string;
}

/** Opaque to callers: base64url of a JSON [address, scope]. */
export function encodePageToken({ address, scope }: ListPosition): string {
  return Buffer.from(JSON.stringify([address, scope])).toString('base64url');
}

/** The position a token stands for; anything this list did not hand out is INVALID_ARGUMENT. */
export function decodePageToken(token: string, field = 'page_token'): ListPosition {
  const invalid = () =>
    new SuppressionException(SuppressionProblem.InvalidPageToken, 'not a token from this list', field);
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (
    !Array.isArray(decoded) ||
    decoded.length !== 2 ||
    !decoded.every((part) => typeof part === 'string' && part !== '')
  ) {
    throw invalid();
  }
  const [address, scope] = decoded as [string, string];
  // Base64 decoding forgives stray characters; only the exact encoding counts.
  if (encodePageToken({ address, scope }) !== token) throw invalid();
  return { address, scope };
}
