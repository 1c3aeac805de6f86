export default async function globalTeardown() {
  globalThis.__redisServer?.kill('SIGTERM');
  await globalThis.__embeddedPostgres?.stop();
}
