import { defineConfig, integer, setting } from '@mailgateway/config';
import { z } from 'zod';

export interface SandboxConfig {
  readonly outputPath?: string;
  readonly latencyMs: number;
}

export const sandboxConfig = defineConfig({
  name: 'sandbox driver',
  settings: {
    SANDBOX_OUTPUT_PATH: setting({
      description:
        'Sandbox driver: append one JSON line per delivered message (id, sender, recipients, subject) to this file.',
      schema: z.string().min(1).optional(),
    }),
    SANDBOX_LATENCY_MS: setting({
      description: 'Sandbox driver: pretend each send takes this long.',
      schema: integer(0, 600_000).default(0),
    }),
  },
  build: (values): SandboxConfig => ({
    outputPath: values.SANDBOX_OUTPUT_PATH,
    latencyMs: values.SANDBOX_LATENCY_MS,
  }),
});
