/** The SNS message types an HTTPS subscription receives. */
export type SnsMessageType = 'Notification' | 'SubscriptionConfirmation' | 'UnsubscribeConfirmation';

/** An SNS HTTP(S) message as SNS documents its JSON: every field a string. */
export interface SnsMessage {
  readonly Type: SnsMessageType;
  readonly MessageId: string;
  readonly TopicArn: string;
  readonly Message: string;
  readonly Timestamp: string;
  readonly SignatureVersion: string;
  readonly Signature: string;
  readonly SigningCertURL: string;
  readonly Subject?: string;
  readonly SubscribeURL?: string;
  readonly Token?: string;
}

const TYPES: readonly SnsMessageType[] = [
  'Notification',
  'SubscriptionConfirmation',
  'UnsubscribeConfirmation',
];
const COMMON_FIELDS = [
  'MessageId',
  'TopicArn',
  'Message',
  'Timestamp',
  'SignatureVersion',
  'Signature',
  'SigningCertURL',
] as const;

/**
 * The string SNS signs, as AWS documents it: "name\nvalue\n" for each field, in this order;
 * Subject only when the notification has one.
 */
const SIGNED_FIELDS: Record<SnsMessageType, readonly (keyof SnsMessage)[]> = {
  Notification: ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'],
  SubscriptionConfirmation: [
    'Message',
    'MessageId',
    'SubscribeURL',
    'Timestamp',
    'Token',
    'TopicArn',
    'Type',
  ],
  UnsubscribeConfirmation: ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'],
};

/** The SNS message in `body`, or why it is not one (never quoting the body). */
export function parseSnsMessage(body: Buffer): SnsMessage | string {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return 'the body is not JSON';
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return 'the body is not a JSON object';
  const fields = value as Record<string, unknown>;
  if (!TYPES.includes(fields.Type as SnsMessageType))
    return 'Type is not Notification or SubscriptionConfirmation';
  const type = fields.Type as SnsMessageType;
  const required = [
    ...COMMON_FIELDS,
    ...(type === 'Notification' ? [] : (['SubscribeURL', 'Token'] as const)),
  ];
  for (const name of required) {
    if (typeof fields[name] !== 'string' || fields[name] === '') return `${name} is missing`;
  }
  if (fields.Subject !== undefined && typeof fields.Subject !== 'string') return 'Subject is not a string';
  return fields as unknown as SnsMessage;
}

export function stringToSign(message: SnsMessage): string {
  return SIGNED_FIELDS[message.Type]
    .filter((name) => message[name] !== undefined)
    .map((name) => `${name}\n${message[name]}\n`)
    .join('');
}
