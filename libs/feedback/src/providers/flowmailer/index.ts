export { FlowmailerEventsPoller } from './flowmailer-events-poller';
export type { FlowmailerEventsPollerOptions, PagePoll } from './flowmailer-events-poller';
export { flowmailerEventsPoller } from './flowmailer-events-poller.factory';
export { FlowmailerEventApi } from './flowmailer-event-api';
export { flowmailerEventsConfig } from './flowmailer-events.settings';
export type { FlowmailerEventsConfig } from './flowmailer-events.settings';
export { FeedbackPositionEntity } from './feedback-position.entity';
