import { instrumentLibraries } from '@mailgateway/observability';

// Imported first by main.ts: require hooks only see modules loaded after them, so pg and ioredis
// must not be loaded before this runs (the observability lib loads neither).
instrumentLibraries();
