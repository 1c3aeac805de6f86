/**
 * How a driver tells the provider the gateway's message id, so that the provider's feedback can be
 * matched to the message even before the provider's own id is recorded. Reserved: callers may not
 * set this metadata key or this header themselves. The key is short because Postmark takes metadata
 * keys of at most 20 characters.
 */
export const GATEWAY_MESSAGE_ID_METADATA_KEY = 'mailgateway_id';
export const GATEWAY_MESSAGE_ID_HEADER = 'X-Mailgateway-Message-Id';
