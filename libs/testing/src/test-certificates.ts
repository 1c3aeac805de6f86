import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCertificate {
  readonly certPath: string;
  readonly keyPath: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** A throwaway CA in `folder` that signs server and client certificates, made with the openssl CLI. */
export class TestCertificateAuthority {
  private serial = 1;

  private constructor(
    private readonly folder: string,
    readonly certPath: string,
    private readonly keyPath: string,
  ) {}

  static create(folder: string): TestCertificateAuthority {
    if (spawnSync('openssl', ['version']).error) {
      throw new Error('openssl is not installed: the TLS suites make their certificates with it');
    }
    const certPath = join(folder, 'ca.crt');
    const keyPath = join(folder, 'ca.key');
    openssl([
      'req',
      '-x509',
      ...newKey(keyPath),
      '-out',
      certPath,
      '-days',
      '1',
      '-subj',
      '/CN=mailgateway test CA',
    ]);
    return new TestCertificateAuthority(folder, certPath, keyPath);
  }

  get cert(): Buffer {
    return readFileSync(this.certPath);
  }

  /** A certificate for `commonName` with the given subjectAltName entries (e.g. "URI:spiffe://..."). */
  issue(name: string, commonName: string, altNames: string[] = []): TestCertificate {
    const keyPath = join(this.folder, `${name}.key`);
    const csrPath = join(this.folder, `${name}.csr`);
    const certPath = join(this.folder, `${name}.crt`);
    const extPath = join(this.folder, `${name}.ext`);
    openssl(['req', ...newKey(keyPath), '-out', csrPath, '-subj', `/CN=${commonName}`]);
    writeFileSync(extPath, altNames.length > 0 ? `subjectAltName=${altNames.join(',')}\n` : '\n');
    openssl([
      'x509',
      '-req',
      '-in',
      csrPath,
      '-CA',
      this.certPath,
      '-CAkey',
      this.keyPath,
      '-set_serial',
      String(this.serial++),
      '-out',
      certPath,
      '-days',
      '1',
      '-extfile',
      extPath,
    ]);
    return { certPath, keyPath, cert: readFileSync(certPath), key: readFileSync(keyPath) };
  }
}

const newKey = (keyPath: string) => [
  '-newkey',
  'ec',
  '-pkeyopt',
  'ec_paramgen_curve:prime256v1',
  '-nodes',
  '-keyout',
  keyPath,
];

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}
