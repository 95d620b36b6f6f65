import { randomBytes, randomFillSync } from 'node:crypto';

/**
 * Random bytes for the control plane (cookies, SPIs, nonces, challenges, IDs, magic
 * numbers), drawn from the kernel's CSPRNG through OpenSSL 4 KiB at a time: one
 * randomFillSync per call costs more than the handful of bytes most callers need.
 * Each call returns bytes no other call gets (a used span is zeroed and never handed
 * out again), in memory of its own as crypto.randomBytes gives (nonces and challenges
 * may be kept as long as a session).
 */
const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafeSlow(POOL_BYTES);
let pos = POOL_BYTES;

export function randomPooled(n: number): Buffer {
  if (n > 256) return randomBytes(n);
  if (pos + n > POOL_BYTES) {
    randomFillSync(pool);
    pos = 0;
  }
  const out = Buffer.allocUnsafeSlow(n);
  pool.copy(out, 0, pos, pos + n);
  pool.fill(0, pos, pos + n);
  pos += n;
  return out;
}
