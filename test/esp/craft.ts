/**
 * An independent, deliberately naive ESP implementation for tests: one
 * createCipheriv / createDecipheriv / createHmac per packet, able to build
 * malformed packets (any seq, padding, next header, inner header).
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import type { ChildSaUp, EspKeys } from '../../src/core/sa.js';
import { resolveTransform, type TransformSpec } from '../../src/esp/transforms.js';

export interface Plain {
  srcPort?: number;
  dstPort?: number;
  payload?: Uint8Array;
  /** Override the UDP length field. */
  udpLen?: number;
  /** Padding bytes (default 1..n to the block size). */
  padding?: Uint8Array;
  /** Override the Pad Length byte. */
  padLen?: number;
  nextHeader?: number;
  /** Inner bytes instead of the UDP header and payload (tunnel mode: an IPv4 packet); Next Header then defaults to 4. */
  inner?: Uint8Array;
  /** Raw plaintext instead of the above (must be block-aligned for CBC). */
  raw?: Uint8Array;
}

export function plaintext(spec: TransformSpec, p: Plain): Buffer {
  if (p.raw) return Buffer.from(p.raw);
  let inner: Buffer;
  if (p.inner) inner = Buffer.from(p.inner);
  else {
    const payload = p.payload ?? new Uint8Array(0);
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(p.srcPort ?? 1701, 0);
    udp.writeUInt16BE(p.dstPort ?? 1701, 2);
    udp.writeUInt16BE(p.udpLen ?? 8 + payload.length, 4);
    inner = Buffer.concat([udp, payload]);
  }
  let padding = p.padding;
  if (!padding) {
    const n = (spec.blockSize - ((inner.length + 2) % spec.blockSize)) % spec.blockSize;
    padding = Uint8Array.from({ length: n }, (_, i) => i + 1);
  }
  return Buffer.concat([inner, padding, Buffer.from([p.padLen ?? padding.length, p.nextHeader ?? (p.inner ? 4 : 17)])]);
}

/** Encrypt one ESP packet with keys k (the sender's outbound keys). */
export function craft(spec: TransformSpec, k: EspKeys, seq: number, p: Plain, iv: Buffer = randomBytes(spec.ivLen)): Buffer {
  const pt = plaintext(spec, p);
  const hdr = Buffer.alloc(8);
  hdr.writeUInt32BE(k.spi >>> 0, 0);
  hdr.writeUInt32BE(seq >>> 0, 4);
  const key = k.encKey.subarray(0, spec.keyLen);
  if (spec.mode === 'gcm') {
    const nonce = Buffer.concat([k.encKey.subarray(spec.keyLen), iv]);
    const c = createCipheriv(spec.cipherName as 'aes-128-gcm', key, nonce, { authTagLength: 16 });
    c.setAAD(hdr);
    const ct = Buffer.concat([c.update(pt), c.final()]);
    return Buffer.concat([hdr, iv, ct, c.getAuthTag()]);
  }
  const c = createCipheriv(spec.cipherName, key, iv);
  c.setAutoPadding(false);
  const body = Buffer.concat([hdr, iv, c.update(pt), c.final()]);
  const icv = createHmac(spec.hashName!, k.authKey).update(body).digest().subarray(0, spec.icvLen);
  return Buffer.concat([body, icv]);
}

/** Naive decrypt: ICV check and decryption, no replay, no payload checks. Returns the plaintext or null. */
export function open(spec: TransformSpec, k: EspKeys, d: Uint8Array): Buffer | null {
  if (d.length < 8 + spec.ivLen + spec.icvLen) return null;
  const key = k.encKey.subarray(0, spec.keyLen);
  const iv = d.subarray(8, 8 + spec.ivLen);
  const ct = d.subarray(8 + spec.ivLen, d.length - spec.icvLen);
  const icv = d.subarray(d.length - spec.icvLen);
  if (spec.mode === 'gcm') {
    const dc = createDecipheriv(spec.cipherName as 'aes-128-gcm', key, Buffer.concat([k.encKey.subarray(spec.keyLen), iv]), { authTagLength: 16 });
    dc.setAAD(d.subarray(0, 8));
    const pt = dc.update(ct);
    dc.setAuthTag(icv);
    try {
      dc.final();
    } catch {
      return null;
    }
    return pt;
  }
  if (ct.length === 0 || ct.length % spec.blockSize) return null;
  const mac = createHmac(spec.hashName!, k.authKey).update(d.subarray(0, d.length - spec.icvLen)).digest().subarray(0, spec.icvLen);
  if (!mac.equals(icv)) return null;
  const dc = createDecipheriv(spec.cipherName, key, iv);
  dc.setAutoPadding(false);
  return Buffer.concat([dc.update(ct), dc.final()]);
}

/** Reference transport-mode check: L2TP payload and inner source port, or null. */
export function naiveInner(pt: Buffer): { srcPort: number; payload: Buffer } | null {
  const n = pt.length;
  if (n < 2) return null;
  const padLen = pt[n - 2]!;
  if (pt[n - 1] !== 17) return null;
  const innerEnd = n - 2 - padLen;
  if (innerEnd < 8) return null;
  for (let i = 0; i < padLen; i++) if (pt[innerEnd + i] !== i + 1) return null;
  const src = pt.readUInt16BE(0);
  const dst = pt.readUInt16BE(2);
  const len = pt.readUInt16BE(4);
  if (dst !== 1701 || src === 0 || len < 8 || len > innerEnd) return null;
  return { srcPort: src, payload: pt.subarray(8, len) };
}

/**
 * Reference tunnel-mode check (RFC 4303 §2.4, §3.1.2; RFC 791 §3.1): the IPv4
 * packet up to its Total Length, or null.
 */
export function naiveTunnelInner(pt: Buffer): Buffer | null {
  const n = pt.length;
  if (n < 2) return null;
  const padLen = pt[n - 2]!;
  if (pt[n - 1] !== 4) return null;
  const innerEnd = n - 2 - padLen;
  if (innerEnd < 0) return null;
  for (let i = 0; i < padLen; i++) if (pt[innerEnd + i] !== i + 1) return null;
  if (innerEnd < 20) return null;
  const version = pt[0]! >> 4;
  const headerLen = (pt[0]! & 15) * 4;
  const total = pt.readUInt16BE(2);
  if (version !== 4 || headerLen < 20 || total < headerLen || total > innerEnd) return null;
  return pt.subarray(0, total);
}

export function specOf(sa: ChildSaUp): TransformSpec {
  return resolveTransform(sa.transform);
}
