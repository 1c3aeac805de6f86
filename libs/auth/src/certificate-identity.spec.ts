import type { PeerCertificate } from 'node:tls';
import { certificateIdentities } from './certificate-identity';

const certificate = (fields: Partial<PeerCertificate>) => fields as PeerCertificate;

describe(certificateIdentities.name, () => {
  it('lists URI SANs before the subject CN', () => {
    const sut = certificateIdentities(
      certificate({
        subject: { CN: 'billing' } as PeerCertificate['subject'],
        subjectaltname: 'DNS:billing.svc, URI:spiffe://cluster.local/ns/billing/sa/api, IP Address:10.0.0.1',
      }),
    );
    expect(sut).toEqual(['spiffe://cluster.local/ns/billing/sa/api', 'billing']);
  });

  it('is empty without a certificate', () => {
    expect(certificateIdentities(undefined)).toEqual([]);
    expect(certificateIdentities(certificate({}))).toEqual([]);
  });
});
