import { createHash } from 'node:crypto';

/** First 16 hex digits of SHA-256 of the PSK: identifies it without revealing it. */
export function pskFingerprint(psk: string): string {
  return createHash('sha256').update(psk, 'utf8').digest('hex').slice(0, 16);
}
