/**
 * Typed errors shared by every codec. A decoder throws DecodeError; the packet
 * handler that called it catches it, counts the drop and logs it (rate-limited).
 */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';
  constructor(
    message: string,
    /** Byte offset in the input where decoding failed. */
    readonly offset: number,
    /** Short machine-readable reason, used as a drop-counter key. */
    readonly reason: string = 'malformed',
  ) {
    super(`${message} (at offset ${offset})`);
  }
}

export function isDecodeError(e: unknown): e is DecodeError {
  return e instanceof DecodeError;
}
