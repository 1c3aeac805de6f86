import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An event's recipient is stored lowercased from now on (insertEvents), as recipient updates
 * already stored it; the few written as given (a suppressed recipient as the caller spelled it, an
 * SMTP server's refusal) are lowercased here, so `recipient = ?` on the message_event_recipient
 * index finds every event of an address. One pass over the events that name a recipient.
 */
export class LowercaseEventRecipients1796500300002 implements MigrationInterface {
  name = 'LowercaseEventRecipients1796500300002';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `UPDATE message_event SET recipient = lower(recipient)
        WHERE recipient IS NOT NULL AND recipient <> lower(recipient)`,
    );
  }

  async down(): Promise<void> {
    // The spelling each was written with is not kept: nothing to undo.
  }
}
