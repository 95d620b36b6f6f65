/**
 * MD4 message digest (RFC 1320). Node 20's node:crypto (OpenSSL 3) no longer
 * offers MD4 by default, yet MS-CHAPv2 needs it for NtPasswordHash
 * (RFC 2759 §8.3). Used only on short inputs (passwords, hashes), so a plain
 * implementation is enough. Never use it for anything else.
 */

function rotl(x: number, n: number): number {
  return ((x << n) | (x >>> (32 - n))) >>> 0;
}

// RFC 1320 §3.4: the three auxiliary functions.
const F = (x: number, y: number, z: number): number => (x & y) | (~x & z);
const G = (x: number, y: number, z: number): number => (x & y) | (x & z) | (y & z);
const H = (x: number, y: number, z: number): number => x ^ y ^ z;

/** Round 1..3 word orders and shifts (RFC 1320 §3.4). */
const R2_ORDER = [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15];
const R3_ORDER = [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15];
const S1 = [3, 7, 11, 19];
const S2 = [3, 5, 9, 13];
const S3 = [3, 9, 11, 15];

export function md4(message: Uint8Array): Buffer {
  const len = message.length;
  // RFC 1320 §3.1–3.2: pad with 0x80, zeros to 56 mod 64, then the 64-bit bit length (little-endian).
  const padded = Buffer.alloc((((len + 8) >>> 6) + 1) << 6);
  padded.set(message, 0);
  padded[len] = 0x80;
  const bitLen = len * 8;
  padded.writeUInt32LE(bitLen >>> 0, padded.length - 8);
  padded.writeUInt32LE(Math.floor(bitLen / 0x100000000) >>> 0, padded.length - 4);

  // RFC 1320 §3.3: initial buffer.
  let a = 0x67452301;
  let b = 0xefcdab89;
  let c = 0x98badcfe;
  let d = 0x10325476;
  const X = new Uint32Array(16);

  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) X[i] = padded.readUInt32LE(off + i * 4);
    const aa = a;
    const bb = b;
    const cc = c;
    const dd = d;
    // Round 1: [abcd k s] a = (a + F(b,c,d) + X[k]) <<< s
    for (let i = 0; i < 16; i++) {
      const t = rotl((a + F(b, c, d) + X[i]!) >>> 0, S1[i & 3]!);
      a = d;
      d = c;
      c = b;
      b = t;
    }
    // Round 2: a = (a + G(b,c,d) + X[k] + 5A827999) <<< s
    for (let i = 0; i < 16; i++) {
      const t = rotl((a + G(b, c, d) + X[R2_ORDER[i]!]! + 0x5a827999) >>> 0, S2[i & 3]!);
      a = d;
      d = c;
      c = b;
      b = t;
    }
    // Round 3: a = (a + H(b,c,d) + X[k] + 6ED9EBA1) <<< s
    for (let i = 0; i < 16; i++) {
      const t = rotl((a + H(b, c, d) + X[R3_ORDER[i]!]! + 0x6ed9eba1) >>> 0, S3[i & 3]!);
      a = d;
      d = c;
      c = b;
      b = t;
    }
    a = (a + aa) >>> 0;
    b = (b + bb) >>> 0;
    c = (c + cc) >>> 0;
    d = (d + dd) >>> 0;
  }
  const out = Buffer.alloc(16);
  out.writeUInt32LE(a, 0);
  out.writeUInt32LE(b, 4);
  out.writeUInt32LE(c, 8);
  out.writeUInt32LE(d, 12);
  return out;
}
