import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { MailGatewayClient } from '@mailgateway/client';
import { MessageStatus } from '@mailgateway/contracts';
import {
  aMail,
  checkHealth,
  freePort,
  GatewayProcess,
  provisionTestDatabase,
  TEST_API_KEY,
  TestDatabase,
  waitFor,
} from '@mailgateway/testing';
import { ReplayedImage, replayImageBuild } from './support/image-replay';

const ROOT = dirname(require.resolve('../package.json'));
/** What the README's build command passes as BUILD_COMMIT. */
const COMMIT = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT }).toString().trim();
/** `docker build` needs an engine; where one answers, the real image is built and run too. */
const DOCKER_ENGINE = spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;

/**
 * The image as its Dockerfile builds it, without Docker (no engine runs here): install, build and
 * prune to production dependencies in a scratch folder, keep what the final stage copies, and run
 * `migrate` and `serve` from there as the image's non-root user against PostgreSQL. Nothing outside
 * that folder can lend it a module: a package production code loads but package.json lists under
 * devDependencies fails here as it fails in the image.
 */
describe('the production image, replayed from its Dockerfile', () => {
  let scratch: string;
  let image: ReplayedImage;
  let database: TestDatabase;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'mailgateway-image-'));
    image = replayImageBuild(ROOT, scratch, { BUILD_COMMIT: COMMIT });
    database = await provisionTestDatabase('postgres', { migrate: false });
  }, 900_000);

  afterAll(async () => {
    await database?.drop();
    await rm(scratch, { recursive: true, force: true });
  });

  const install = () => ({
    main: join(image.folder, image.entrypoint[1]),
    cwd: image.folder,
    uid: image.uid,
    gid: image.gid,
  });

  /** Waits for `process` to exit and fails with its output unless it exited with 0. */
  const exitsCleanly = async (process: GatewayProcess) => {
    const { code, signal } = await process.exited;
    if (code !== 0) throw new Error(`exited with ${code ?? signal}. Its output:\n${process.logs}`);
  };

  it('keeps production dependencies only, and runs as a non-root user', () => {
    expect(image.entrypoint[0]).toBe('node');
    expect(image.uid).not.toBe(0);
    for (const devOnly of ['typescript', 'jest', '@nestjs/cli']) {
      expect(existsSync(join(image.folder, 'node_modules', devOnly))).toBe(false);
    }
    // Only the system packages of the build stage are left to the machine.
    expect(image.skipped.every((command) => /^(apt-get|rm -rf \/var\/lib\/apt)/.test(command))).toBe(true);
  });

  it('migrates, serves (SERVING, healthy), delivers a message and stops on SIGTERM', async () => {
    const env = { ...image.env, ...database.env, NODE_ENV: 'production' };
    await exitsCleanly(GatewayProcess.spawn(env, 'migrate', install()));

    const port = await freePort();
    const metricsPort = await freePort();
    const gateway = await GatewayProcess.start(
      {
        ...env,
        GRPC_PORT: String(port),
        METRICS_PORT: String(metricsPort),
        BOOTSTRAP_API_KEY: TEST_API_KEY,
        REDIS_URL: process.env.MAILGATEWAY_TEST_REDIS_URL!,
      },
      install(),
    );
    const client = new MailGatewayClient({ address: `127.0.0.1:${port}`, apiKey: TEST_API_KEY });
    try {
      await waitFor('readiness to be SERVING', async () =>
        (await checkHealth(`127.0.0.1:${port}`)) === 'SERVING' ? true : undefined,
      );
      const [command, ...args] = image.healthcheck;
      expect(command).toBe('node');
      const healthcheck = spawnSync(process.execPath, args, {
        env: { METRICS_PORT: String(metricsPort) },
        uid: image.uid,
        gid: image.gid,
      });
      expect(healthcheck.status).toBe(0);
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metrics).toMatch(
        new RegExp(`^mailgateway_build_info\\{[^}]*commit="${COMMIT}"[^}]*\\} 1$`, 'm'),
      );

      const { messageId } = await client.send(aMail());
      const delivered = await waitFor('the message to be delivered', async () => {
        const message = await client.getMessage({ messageId });
        return message.status === MessageStatus.MESSAGE_STATUS_DELIVERED ? message : undefined;
      });
      expect(delivered.messageId).toBe(messageId);
    } finally {
      client.close();
      gateway.kill('SIGTERM');
    }
    await exitsCleanly(gateway);
  });

  (DOCKER_ENGINE ? it : it.skip)(
    '(with a Docker engine) builds the real image, which migrates',
    async () => {
      const tag = `mailgateway:test-${process.pid}`;
      const build = spawnSync('docker', ['build', '-t', tag, ROOT], { encoding: 'utf8' });
      expect(build.stderr).not.toMatch(/ERROR/);
      expect(build.status).toBe(0);
      const fresh = await provisionTestDatabase('postgres', { migrate: false });
      try {
        const migrate = spawnSync(
          'docker',
          [
            'run',
            '--rm',
            '--network',
            'host',
            '-e',
            `DATABASE_URL=${fresh.env.DATABASE_URL}`,
            tag,
            'migrate',
          ],
          { encoding: 'utf8' },
        );
        expect(migrate.status).toBe(0);
      } finally {
        await fresh.drop();
        spawnSync('docker', ['rmi', '-f', tag], { stdio: 'ignore' });
      }
    },
    900_000,
  );
});
