import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Endpoint } from '../core/sa.js';

/**
 * Stateless COOKIE (RFC 7296 §2.6):
 *   Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)
 * Here the version is the 4-byte index of a time bucket and the hash an HMAC-SHA-256
 * keyed with the per-run secret over the version, Ni, the peer's address and SPIi.
 * A cookie of the current or the previous bucket is accepted, so one made just
 * before a bucket changes still works ("secret" rotated every COOKIE_BUCKET_MS).
 */
export const COOKIE_BUCKET_MS = 60_000;
export const COOKIE_LENGTH = 4 + 32;

function cookieFor(secret: Buffer, bucket: number, ni: Uint8Array, peer: Endpoint, spiI: Uint8Array): Buffer {
  const v = Buffer.alloc(4);
  v.writeUInt32BE(bucket >>> 0);
  const h = createHmac('sha256', secret).update(v).update(ni).update(`|${peer.address}|`).update(spiI).digest();
  return Buffer.concat([v, h]);
}

export function makeCookie(secret: Buffer, now: number, ni: Uint8Array, peer: Endpoint, spiI: Uint8Array): Buffer {
  return cookieFor(secret, Math.floor(now / COOKIE_BUCKET_MS), ni, peer, spiI);
}

export function checkCookie(secret: Buffer, now: number, cookie: Uint8Array, ni: Uint8Array, peer: Endpoint, spiI: Uint8Array): boolean {
  if (cookie.length !== COOKIE_LENGTH) return false;
  const bucket = Buffer.from(cookie).readUInt32BE(0);
  const cur = Math.floor(now / COOKIE_BUCKET_MS) >>> 0;
  if (bucket !== cur && bucket !== ((cur - 1) >>> 0)) return false;
  return timingSafeEqual(cookieFor(secret, bucket, ni, peer, spiI), cookie);
}
