import { appendFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable } from '@nestjs/common';
import { GATEWAY_CONFIG, GatewayConfig } from '@mailgateway/config';
import { DeliveryOutcome, MailDriver, OutboundMessage } from '../mail-driver.interface';

export interface SandboxRecord {
  readonly messageId: string;
  readonly attempt: number;
  readonly from: string;
  readonly recipients: number;
  readonly subject: string;
  readonly recordedAt: string;
  /** The gateway process that delivered it (several may share one outbox). */
  readonly pid: number;
}

const KEPT_IN_MEMORY = 1000;

/** Records messages instead of sending them: the default, so a fresh checkout needs no credentials. */
@Injectable()
export class SandboxDriver implements MailDriver {
  readonly name = 'sandbox';
  private readonly recent: SandboxRecord[] = [];

  constructor(@Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig) {}

  async send({ id, attempt, mail }: OutboundMessage, signal: AbortSignal): Promise<DeliveryOutcome> {
    if (this.config.sandbox.latencyMs > 0) await sleep(this.config.sandbox.latencyMs, undefined, { signal });
    const record: SandboxRecord = {
      messageId: id,
      attempt,
      from: mail.from?.address ?? '',
      recipients: mail.to.length + mail.cc.length + mail.bcc.length,
      subject: mail.subject,
      recordedAt: new Date().toISOString(),
      pid: process.pid,
    };
    this.recent.push(record);
    if (this.recent.length > KEPT_IN_MEMORY) this.recent.shift();
    if (this.config.sandbox.outputPath) {
      await appendFile(this.config.sandbox.outputPath, `${JSON.stringify(record)}\n`);
    }
    return { kind: 'accepted', providerMessageId: `sandbox-${id}` };
  }

  /** The last messages recorded by this process, oldest first. */
  records(): readonly SandboxRecord[] {
    return this.recent;
  }
}
