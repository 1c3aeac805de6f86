import { Module } from '@nestjs/common';
import { MailValidator } from './mail-validator';

/** Checks messages against the contract's rules and the configured limits. */
@Module({ providers: [MailValidator], exports: [MailValidator] })
export class ValidationModule {}
