// What drivers share: outcomes, HTTP answer parsing, mail encoding. A driver imports from here.
export * from './driver-definition';
export * from './http-answers';
export * from './outcomes';
export { attachmentBase64 } from './mail-encoding';
export { formatMailbox } from './format-mailbox';
export { pathUnder, requireSettings } from './driver-settings';
