const DAY_SECONDS = 86_400;

/**
 * Longest lifetime a key may be given: 3650 days (about ten years). Far enough for any planned
 * rotation, and it keeps every expiry a database integer and a valid google.protobuf.Timestamp.
 */
export const MAX_API_KEY_LIFETIME_SECONDS = 3_650 * DAY_SECONDS;

/** Longest a key replaced in a rotation stays valid: 30 days, for the call and the default alike. */
export const MAX_ROTATION_OVERLAP_SECONDS = 30 * DAY_SECONDS;
