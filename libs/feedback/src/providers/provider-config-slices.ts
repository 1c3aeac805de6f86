import type { ConfigSlice } from '@mailgateway/config';
import { flowmailerEventsConfig } from './flowmailer/flowmailer-events.settings';
import { sesConfig } from './ses/ses.settings';

/** The settings of the feedback providers built here (SES through SNS, Flowmailer's event feed). */
export const FEEDBACK_PROVIDER_CONFIG_SLICES: readonly ConfigSlice[] = [sesConfig, flowmailerEventsConfig];
