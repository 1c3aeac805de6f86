/** A request refused by validation: `field` is the proto path at fault, e.g. `mail.to[2].address`. */
export class ValidationException extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = ValidationException.name;
  }
}
