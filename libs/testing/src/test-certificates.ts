import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY_MS = 86_400_000;

export interface TestCertificate {
  readonly cert: string;
  readonly key: string;
}

/** A certificate authority made for one test run, and the server certificates it signs. */
export class TestCertificateAuthority {
  private constructor(
    private readonly keys: webcrypto.CryptoKeyPair,
    private readonly certificate: x509.X509Certificate,
  ) {}

  static async create(name = 'mailgateway test CA'): Promise<TestCertificateAuthority> {
    const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: `CN=${name}`,
      notBefore: new Date(Date.now() - DAY_MS),
      notAfter: new Date(Date.now() + DAY_MS),
      keys,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new TestCertificateAuthority(keys, certificate);
  }

  get pem(): string {
    return this.certificate.toString('pem');
  }

  /** Writes the CA certificate where UPSTREAM_CA_FILE (or a client) can read it. */
  async writePem(path: string): Promise<string> {
    await writeFile(path, this.pem);
    return path;
  }

  /** Writes the CA certificate to ca.pem in a new temporary folder; returns its path. */
  async writeTemporaryPem(): Promise<string> {
    return this.writePem(join(await mkdtemp(join(tmpdir(), 'mailgateway-ca-')), 'ca.pem'));
  }

  /** A server certificate for the given DNS names, signed by this authority. */
  issue(...dnsNames: string[]): Promise<TestCertificate> {
    return this.issueFor(
      dnsNames[0],
      dnsNames.map((name) => `DNS:${name}`),
    );
  }

  /**
   * A certificate (server or client) for `commonName` with subject alternative names written as
   * openssl does: "DNS:localhost", "IP:127.0.0.1", "URI:spiffe://cluster.local/ns/a/sa/b".
   */
  async issueFor(commonName: string, altNames: readonly string[] = []): Promise<TestCertificate> {
    const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: `CN=${commonName}`,
      issuer: this.certificate.subject,
      notBefore: new Date(Date.now() - DAY_MS),
      notAfter: new Date(Date.now() + DAY_MS),
      signingKey: this.keys.privateKey,
      publicKey: keys.publicKey,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.SubjectAlternativeNameExtension(altNames.map(toGeneralName)),
        new x509.BasicConstraintsExtension(false),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
      ],
    });
    const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
    return { cert: certificate.toString('pem'), key: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') };
  }
}

/** Writes a certificate and its key as PEM files, for settings that take paths. */
export async function saveCertificate(
  folder: string,
  name: string,
  { cert, key }: TestCertificate,
): Promise<{ certPath: string; keyPath: string }> {
  const certPath = join(folder, `${name}.crt`);
  const keyPath = join(folder, `${name}.key`);
  await writeFile(certPath, cert);
  await writeFile(keyPath, key);
  return { certPath, keyPath };
}

function toGeneralName(altName: string): { type: 'dns' | 'ip' | 'url'; value: string } {
  const [kind, ...rest] = altName.split(':');
  const value = rest.join(':');
  const type = ({ DNS: 'dns', IP: 'ip', URI: 'url' } as const)[kind as 'DNS' | 'IP' | 'URI'];
  if (!type) throw new Error(`unsupported subject alternative name "${altName}"`);
  return { type, value };
}

function randomSerial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(8)))
    .toString('hex')
    .replace(/^[89a-f]/, '1');
}
