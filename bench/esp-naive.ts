/**
 * Baselines for the ESP benchmark: the straightforward per-packet way
 * (one createDecipheriv/createCipheriv + one createHmac per packet; fresh
 * random IVs drawn per batch with one randomBytes call, like the engine) and the same with @noble/ciphers + @noble/hashes.
 * Same checks as the engine (ICV, padding, next header, inner UDP 1701).
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { cbc } from '@noble/ciphers/aes.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { TransformSpec } from '../src/esp/transforms.js';

export interface BenchKeys {
  spec: TransformSpec;
  encKey: Buffer;
  authKey: Buffer;
  spi: number;
}

function checkPlain(pt: Uint8Array): Uint8Array | null {
  const n = pt.length;
  const padLen = pt[n - 2]!;
  if (pt[n - 1] !== 17 || padLen + 10 > n) return null;
  const innerEnd = n - 2 - padLen;
  for (let i = 0; i < padLen; i++) if (pt[innerEnd + i] !== i + 1) return null;
  if (((pt[2]! << 8) | pt[3]!) !== 1701) return null;
  return pt.subarray(8, innerEnd);
}

export function naiveDecrypt(k: BenchKeys, d: Uint8Array): Uint8Array | null {
  const s = k.spec;
  const icvAt = d.length - s.icvLen;
  const mac = createHmac(s.hashName!, k.authKey).update(d.subarray(0, icvAt)).digest();
  if (!timingSafeEqual(mac.subarray(0, s.icvLen), d.subarray(icvAt))) return null;
  const dc = createDecipheriv(s.cipherName, k.encKey, d.subarray(8, 8 + s.ivLen));
  dc.setAutoPadding(false);
  const pt = Buffer.concat([dc.update(d.subarray(8 + s.ivLen, icvAt)), dc.final()]);
  return checkPlain(pt);
}

function plain(s: TransformSpec, dstPort: number, payload: Uint8Array): Buffer {
  const inner = 8 + payload.length;
  const padded = inner + 2 + ((s.blockSize - ((inner + 2) % s.blockSize)) % s.blockSize);
  const pt = Buffer.alloc(padded);
  pt.writeUInt16BE(1701, 0);
  pt.writeUInt16BE(dstPort, 2);
  pt.writeUInt16BE(inner, 4);
  pt.set(payload, 8);
  const padLen = padded - inner - 2;
  for (let i = 0; i < padLen; i++) pt[inner + i] = i + 1;
  pt[padded - 2] = padLen;
  pt[padded - 1] = 17;
  return pt;
}

/** iv: a fresh random IV (the bench draws a batch's IVs with one randomBytes call, as the engine does). */
export function naiveEncrypt(k: BenchKeys, seq: number, dstPort: number, payload: Uint8Array, iv: Uint8Array = randomBytes(k.spec.ivLen)): Buffer {
  const s = k.spec;
  const c = createCipheriv(s.cipherName, k.encKey, iv);
  c.setAutoPadding(false);
  const hdr = Buffer.alloc(8);
  hdr.writeUInt32BE(k.spi, 0);
  hdr.writeUInt32BE(seq, 4);
  const body = Buffer.concat([hdr, iv, c.update(plain(s, dstPort, payload)), c.final()]);
  const icv = createHmac(s.hashName!, k.authKey).update(body).digest().subarray(0, s.icvLen);
  return Buffer.concat([body, icv]);
}

const nobleHash = (s: TransformSpec): typeof sha1 => (s.hashName === 'sha1' ? sha1 : sha256);

export function nobleDecrypt(k: BenchKeys, d: Uint8Array): Uint8Array | null {
  const s = k.spec;
  const icvAt = d.length - s.icvLen;
  const mac = hmac(nobleHash(s), k.authKey, d.subarray(0, icvAt));
  if (!timingSafeEqual(mac.subarray(0, s.icvLen), d.subarray(icvAt))) return null;
  const pt = cbc(k.encKey, d.subarray(8, 8 + s.ivLen), { disablePadding: true }).decrypt(d.subarray(8 + s.ivLen, icvAt));
  return checkPlain(pt);
}

export function nobleEncrypt(k: BenchKeys, seq: number, dstPort: number, payload: Uint8Array, iv: Uint8Array = randomBytes(k.spec.ivLen)): Uint8Array {
  const s = k.spec;
  const ct = cbc(k.encKey, iv, { disablePadding: true }).encrypt(plain(s, dstPort, payload));
  const out = new Uint8Array(8 + s.ivLen + ct.length + s.icvLen);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, k.spi);
  dv.setUint32(4, seq);
  out.set(iv, 8);
  out.set(ct, 8 + s.ivLen);
  const icvAt = 8 + s.ivLen + ct.length;
  out.set(hmac(nobleHash(s), k.authKey, out.subarray(0, icvAt)).subarray(0, s.icvLen), icvAt);
  return out;
}
