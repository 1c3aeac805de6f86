export * from './mail-driver.interface';
export { MAIL_DRIVERS, findDriver } from './mail-drivers';
export type { DriverDefinition } from './kit';
export { SandboxDriver } from './sandbox';
export type { SandboxRecord } from './sandbox';
export { HttpDriver } from './http';
export { SendgridDriver } from './sendgrid';
export { PostmarkDriver } from './postmark';
export { FlowmailerDriver } from './flowmailer';
