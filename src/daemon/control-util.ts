import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The PSK fingerprint that status shows: "SALT:DIGEST", SALT = 16 hex digits chosen at
 * random when the daemon starts, DIGEST = the first 16 hex digits of HMAC-SHA256 keyed
 * with the salt's 8 bytes over the PSK. It tells whoever knows a PSK whether it is the
 * one the daemon runs with, without a table of unsalted hashes (or another server's
 * fingerprint) saying anything about it.
 */
const SALT = randomBytes(8);

export function pskFingerprint(psk: string, salt: Buffer = SALT): string {
  return `${salt.toString('hex')}:${createHmac('sha256', salt).update(psk, 'utf8').digest('hex').slice(0, 16)}`;
}

/** Whether `fingerprint` (as status shows it) is that of `psk`. */
export function matchesPskFingerprint(fingerprint: string, psk: string): boolean {
  const m = /^([0-9a-f]{16}):([0-9a-f]{16})$/.exec(fingerprint);
  if (!m) return false;
  const want = Buffer.from(pskFingerprint(psk, Buffer.from(m[1]!, 'hex')));
  const got = Buffer.from(fingerprint);
  return want.length === got.length && timingSafeEqual(want, got);
}
