import { spawnSync } from 'node:child_process';
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
    image = replayImageBuild(ROOT, scratch);
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
    const migrate = GatewayProcess.spawn(env, 'migrate', install());
    expect(await migrate.exited).toEqual({ code: 0, signal: null });

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
    expect(await gateway.exited).toEqual({ code: 0, signal: null });
  });
});
