/** What a source may do. Each RPC needs exactly one; a source holds only the ones it uses. */
export enum Role {
  MailSend = 'mail.send',
  MailRead = 'mail.read',
  Admin = 'admin',
}

export const ALL_ROLES: readonly Role[] = [Role.MailSend, Role.MailRead, Role.Admin];

export function isRole(value: string): value is Role {
  return (ALL_ROLES as readonly string[]).includes(value);
}
