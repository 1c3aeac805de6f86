import { Injectable } from '@nestjs/common';
import { SourceAdminService } from '@mailgateway/auth';
import type { SourceRetentionOverride, SourceRetentionPolicies } from '@mailgateway/outbox';

/** Every source with its policy's retention, read afresh each round (an update applies at the next). */
@Injectable()
export class SourceRetentionFromPolicies implements SourceRetentionPolicies {
  constructor(private readonly sources: SourceAdminService) {}

  async list(): Promise<SourceRetentionOverride[]> {
    return (await this.sources.listSources()).map((source) => ({
      source: source.name,
      bodyRetentionMs: source.bodyRetentionSeconds === null ? null : source.bodyRetentionSeconds * 1000,
      historyRetentionMs:
        source.historyRetentionSeconds === null ? null : source.historyRetentionSeconds * 1000,
    }));
  }
}
