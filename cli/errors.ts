/**
 * The CLI's one error type: a message the user can act on, printed as one
 * line (no stack trace unless --verbose) with exit code 2.
 */
export class CliError extends Error {
  override name = "CliError";
  /** `file:line:column` of the user's code the error is about, when known. */
  readonly location?: string;
  constructor(message: string, options: { location?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    if (options.location) this.location = options.location;
  }
}

/** Exit code of every usage or model error. */
export const EXIT_USAGE = 2;
