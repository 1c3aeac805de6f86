import { Global, Module } from '@nestjs/common';
import { SuppressionList } from './suppression-list.service';

/**
 * The suppression list, for the accept path, the delivery path, provider feedback and the admin
 * RPCs alike. Global: one list per process; its table (SUPPRESSION_SCHEMA) lives in the app's one
 * database (DatabaseModule).
 */
@Global()
@Module({ providers: [SuppressionList], exports: [SuppressionList] })
export class SuppressionModule {}
