import { SetMetadata } from '@nestjs/common';

export const CREDENTIAL_CHECKED_AT_COMMIT = 'mailgateway:credential-checked-at-commit';

/**
 * The handler's commit refuses the call's API key itself if it is revoked or expired by then
 * (`EnqueueRequest.apiKeyPrefix`), so the guard may authenticate the call from this process's cache
 * of verified keys. Any other handler has its key looked up on every call.
 */
export const CredentialCheckedAtCommit = () => SetMetadata(CREDENTIAL_CHECKED_AT_COMMIT, true);
