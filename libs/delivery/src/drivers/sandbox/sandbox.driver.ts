import { appendFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable } from '@nestjs/common';
import { InjectConfig } from '@mailgateway/config';
import { DeliveryOutcome, MailDriver, OutboundMessage } from '../mail-driver.interface';
import { SandboxConfig, sandboxConfig } from './sandbox.settings';

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

  constructor(@InjectConfig(sandboxConfig) private readonly config: SandboxConfig) {}

  async send({ id, attempt, mail }: OutboundMessage, signal: AbortSignal): Promise<DeliveryOutcome> {
    if (this.config.latencyMs > 0) await sleep(this.config.latencyMs, undefined, { signal });
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
    if (this.config.outputPath) {
      await appendFile(this.config.outputPath, `${JSON.stringify(record)}\n`);
    }
    return { kind: 'accepted', providerMessageId: `sandbox-${id}` };
  }

  /** The last messages recorded by this process, oldest first. */
  records(): readonly SandboxRecord[] {
    return this.recent;
  }
}
