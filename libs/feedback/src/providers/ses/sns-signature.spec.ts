// AWS's own signed sample: the SNS notification and the signing certificate's public certificate
// that aws-sdk-java-v2 verifies in SnsSignatureCheckerTest (services/sns/src/test/resources/
// software/amazon/awssdk/services/sns/sample-message.json and unit-test-public-cert.pem), a real
// SignatureVersion 1 (SHA1withRSA) signature made by SNS in 2015. The certificate has long expired;
// its key is all the signature check uses (trust in the certificate comes from fetching it over
// HTTPS from an SNS host).
import { createPublicKey } from 'node:crypto';
import { SnsSigner } from '@mailgateway/testing';
import { parseSnsMessage, stringToSign, type SnsMessage } from './sns-message';
import { hasValidSignature } from './sns-signature';

const AWS_SAMPLE = {
  Type: 'Notification',
  MessageId: 'd39649d4-bf5b-5b80-af75-07acb3dd9b4a',
  TopicArn: 'arn:aws:sns:us-east-1:810605503585:just_testing',
  Subject: 'this is raw',
  Message: 'boo',
  Timestamp: '2015-09-20T01:22:14.001Z',
  SignatureVersion: '1',
  Signature:
    'fQh5DUyhpw41y6tx/BJuqK2Clvs7uY6N7poaOfzK08E+C6saKq9dMz5b9A0lGWWU7VsB+qHELBaL3OdS9U4BmFI36Ppt5Q6BsWmqSho+1hgwBYFFFZghO6BYXxsNmLml1yZl2X+MQKy3D516hgN7pUvYnvvq2cfsvy21ivU6Oiv96gcte2s+aPUi6O9CAdc2GfZRXCqC9wowKoxhFUUQW/UTHQfxt/60qWgNxhhVwAbPtnXWkAXwxixYKl5qOHcl3u2TxkAHn+1X8XmgjnpvEO5p0vQvOEHXBnGsjPglRXE9g5FVnAFXjhvHXeTWUcVLNI0eSRJeOBPbKpkjeDsR4g==',
  SigningCertURL:
    'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-bb750dd426d95ee9390147a5624348ee.pem',
  UnsubscribeURL:
    'https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:810605503585:just_testing:3c6297c1-326e-4931-9351-ccc48e02f08a',
  MessageAttributes: { 'AWS.SNS.MOBILE.WNS.Type': { Type: 'String', Value: 'wns/badge' } },
};

const AWS_SAMPLE_CERTIFICATE = `-----BEGIN CERTIFICATE-----
MIIE2zCCA8OgAwIBAgIQEyYsBRbV0xBZovJwPnu51TANBgkqhkiG9w0BAQsFADB+
MQswCQYDVQQGEwJVUzEdMBsGA1UEChMUU3ltYW50ZWMgQ29ycG9yYXRpb24xHzAd
BgNVBAsTFlN5bWFudGVjIFRydXN0IE5ldHdvcmsxLzAtBgNVBAMTJlN5bWFudGVj
IENsYXNzIDMgU2VjdXJlIFNlcnZlciBDQSAtIEc0MB4XDTE1MDgwNzAwMDAwMFoX
DTE2MDgyMTIzNTk1OVowazELMAkGA1UEBhMCVVMxEzARBgNVBAgMCldhc2hpbmd0
b24xEDAOBgNVBAcMB1NlYXR0bGUxGTAXBgNVBAoMEEFtYXpvbi5jb20sIEluYy4x
GjAYBgNVBAMMEXNucy5hbWF6b25hd3MuY29tMIIBIjANBgkqhkiG9w0BAQEFAAOC
AQ8AMIIBCgKCAQEAhJxlGxd4K3wE9m2DFSnUDa+8f9VtclE63p3IgP4Ek/JruNCl
M8yQiZWhXxTu+ASn6plnL5kIQNv/OzpRkC2ko1hjx31JQmjL9H29AlQgVXr4UeIm
RZc8AGqh00xLvopj3J+t/oigH5zeMh+rhOYoqr9NjvFUIFfFat42XOhUNpOyPiLb
N6yuD7Vec7jlVeTG9q7W+V0TupmiQ+pM/RX+ksCCFlQkLH8fB3H4Nr7IHjWuAify
Z+djibL1CR/e2rEDAmpK1wA4Hkx5YFNDAp/WgAs6nSq7MtEvfs1oP1dHwYaNA8Z2
zcYGqb5ORtz1bFZy+JLzf7K/PnqEzkf8ywC3IwIDAQABo4IBZjCCAWIwHAYDVR0R
BBUwE4IRc25zLmFtYXpvbmF3cy5jb20wCQYDVR0TBAIwADAOBgNVHQ8BAf8EBAMC
BaAwHQYDVR0lBBYwFAYIKwYBBQUHAwEGCCsGAQUFBwMCMGEGA1UdIARaMFgwVgYG
Z4EMAQICMEwwIwYIKwYBBQUHAgEWF2h0dHBzOi8vZC5zeW1jYi5jb20vY3BzMCUG
CCsGAQUFBwICMBkaF2h0dHBzOi8vZC5zeW1jYi5jb20vcnBhMB8GA1UdIwQYMBaA
FF9gz2GQVd+EQxSKYCqy9Xr0QxjvMCsGA1UdHwQkMCIwIKAeoByGGmh0dHA6Ly9z
cy5zeW1jYi5jb20vc3MuY3JsMFcGCCsGAQUFBwEBBEswSTAfBggrBgEFBQcwAYYT
aHR0cDovL3NzLnN5bWNkLmNvbTAmBggrBgEFBQcwAoYaaHR0cDovL3NzLnN5bWNi
LmNvbS9zcy5jcnQwDQYJKoZIhvcNAQELBQADggEBADJP+dxUtQlrRiyt4xn8R184
wjyf/OVfnA2YqIKPQKz17JPwmm1grDGGw2A6LvsIENHZFg67twZqHgrzmtL4iVrv
lBCef1QA4AUyUZsJWobx7cCB44PlVcfad69q61OzXMSVUSWzyvw3PU7NW/b2Ny9C
Zj1p/uwaUOlS6NQTkAlAqE8JZK5f8/kAcoebd0GWBcJwZ5AY0/5ZMzaa55hW+im8
GzjWCO0mkK6swdvpPYPeQUQ2lb/mqj6HBHa864sgPMgjyx9TuviYWsKhbUZIpysy
tKvJsKCmyR4pp0HpCsf0tOxrWRjH9cnuqrR//iKXPw3HlYpa5wu9c51cLH/D3dU=
-----END CERTIFICATE-----
`;

/** The fields without the named ones. */
const without = <T extends object>(fields: T, ...names: (keyof T)[]): Partial<T> =>
  Object.fromEntries(
    Object.entries(fields).filter(([name]) => !names.includes(name as keyof T)),
  ) as Partial<T>;

const parse = (fields: object): SnsMessage => {
  const message = parseSnsMessage(Buffer.from(JSON.stringify(fields)));
  if (typeof message === 'string') throw new Error(message);
  return message;
};

describe('SNS signatures', () => {
  const awsKey = createPublicKey(AWS_SAMPLE_CERTIFICATE);

  it("verifies AWS's signed sample notification byte for byte", () => {
    expect(hasValidSignature(parse(AWS_SAMPLE), awsKey)).toBe(true);
  });

  it.each([
    ['Message', { Message: 'boo!' }],
    ['Subject', { Subject: 'this is cooked' }],
    ['Timestamp', { Timestamp: '2015-09-20T01:22:14.002Z' }],
    ['TopicArn', { TopicArn: 'arn:aws:sns:us-east-1:810605503585:other' }],
    ['MessageId', { MessageId: 'd39649d4-bf5b-5b80-af75-07acb3dd9b4b' }],
  ])('refuses the sample with its %s changed', (_field, change) => {
    expect(hasValidSignature(parse({ ...AWS_SAMPLE, ...change }), awsKey)).toBe(false);
  });

  it('refuses the sample with its Subject removed, and under SignatureVersion 2', () => {
    expect(hasValidSignature(parse(without(AWS_SAMPLE, 'Subject')), awsKey)).toBe(false);
    expect(hasValidSignature(parse({ ...AWS_SAMPLE, SignatureVersion: '2' }), awsKey)).toBe(false);
  });

  it('builds the string to sign of a notification and of a subscription confirmation as AWS documents', () => {
    const withoutSubject = without(AWS_SAMPLE, 'Subject');
    expect(stringToSign(parse(withoutSubject))).toBe(
      'Message\nboo\nMessageId\nd39649d4-bf5b-5b80-af75-07acb3dd9b4a\nTimestamp\n2015-09-20T01:22:14.001Z\n' +
        'TopicArn\narn:aws:sns:us-east-1:810605503585:just_testing\nType\nNotification\n',
    );
    const confirmation = parse({
      ...withoutSubject,
      Type: 'SubscriptionConfirmation',
      Message: 'You have chosen to subscribe',
      SubscribeURL: 'https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=t1',
      Token: 't1',
    });
    expect(stringToSign(confirmation)).toBe(
      'Message\nYou have chosen to subscribe\nMessageId\nd39649d4-bf5b-5b80-af75-07acb3dd9b4a\n' +
        'SubscribeURL\nhttps://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=t1\n' +
        'Timestamp\n2015-09-20T01:22:14.001Z\nToken\nt1\n' +
        'TopicArn\narn:aws:sns:us-east-1:810605503585:just_testing\nType\nSubscriptionConfirmation\n',
    );
  });

  it('verifies SignatureVersion 2 (SHA256withRSA) with a key made for the test', async () => {
    const signer = await SnsSigner.create();
    const key = createPublicKey(signer.certificatePem);
    const { Type, MessageId, TopicArn, Subject, Message, Timestamp, SigningCertURL } = AWS_SAMPLE;
    const fields = { Type, MessageId, TopicArn, Subject, Message, Timestamp, SigningCertURL };
    const signed = signer.sign({ ...fields, SignatureVersion: '2' });

    expect(hasValidSignature(parse(signed), key)).toBe(true);
    expect(hasValidSignature(parse({ ...signed, SignatureVersion: '1' }), key)).toBe(false);
    expect(hasValidSignature(parse(signed), awsKey)).toBe(false);
  });
});
