/**
 * How the CLI fails: one line, then a hint. Exit 1 for an operation that failed,
 * 2 for bad usage (unknown command or option, missing argument, a bad number).
 */

export class CliError extends Error {
  override readonly name: string = 'CliError';
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
  }
}

export class UsageError extends CliError {
  override readonly name: string = 'UsageError';
  constructor(message: string, hint?: string) {
    super(message, hint, 2);
  }
}
