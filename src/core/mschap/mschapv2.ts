import { timingSafeEqual } from 'node:crypto';
import { digest as sha } from '../oneshot.js';
import { desEncrypt } from './des.js';
import { md4 } from './md4.js';

/**
 * MS-CHAPv2 computations (RFC 2759 §8). The server keeps only the NT hash
 * (MD4 of the UTF-16LE password), so the server-side functions take the hash.
 */

/** RFC 2759 §8.3 NtPasswordHash: MD4(UTF-16LE(password)). */
export function ntPasswordHash(password: string): Buffer {
  return md4(Buffer.from(password, 'utf16le'));
}

/** RFC 2759 §8.4 HashNtPasswordHash. */
export function hashNtPasswordHash(passwordHash: Uint8Array): Buffer {
  return md4(passwordHash);
}

/**
 * The user name that enters the hashes: RFC 2759 §8.2 says "excluding any
 * prepended domain name" (Windows may send DOMAIN\user).
 */
export function stripDomain(userName: string): string {
  const i = userName.lastIndexOf('\\');
  return i >= 0 ? userName.slice(i + 1) : userName;
}

/** RFC 2759 §8.2 ChallengeHash: first 8 bytes of SHA1(PeerChallenge | AuthenticatorChallenge | UserName). */
export function challengeHash(peerChallenge: Uint8Array, authenticatorChallenge: Uint8Array, userName: string | Uint8Array): Buffer {
  const name = typeof userName === 'string' ? Buffer.from(stripDomain(userName), 'utf8') : userName;
  return sha('sha1', peerChallenge, authenticatorChallenge, name).subarray(0, 8);
}

/** RFC 2759 §8.5 ChallengeResponse: the 16-byte hash zero-padded to 21, three DES encryptions of the challenge. */
export function challengeResponse(challenge: Uint8Array, passwordHash: Uint8Array): Buffer {
  const z = Buffer.alloc(21);
  z.set(passwordHash.subarray(0, 16));
  return Buffer.concat([desEncrypt(challenge, z.subarray(0, 7)), desEncrypt(challenge, z.subarray(7, 14)), desEncrypt(challenge, z.subarray(14, 21))]);
}

/** RFC 2759 §8.1 GenerateNTResponse, from the NT password hash. */
export function generateNTResponseFromHash(
  authenticatorChallenge: Uint8Array,
  peerChallenge: Uint8Array,
  userName: string | Uint8Array,
  passwordHash: Uint8Array,
): Buffer {
  return challengeResponse(challengeHash(peerChallenge, authenticatorChallenge, userName), passwordHash);
}

/** RFC 2759 §8.1 GenerateNTResponse(AuthenticatorChallenge, PeerChallenge, UserName, Password). */
export function generateNTResponse(authenticatorChallenge: Uint8Array, peerChallenge: Uint8Array, userName: string, password: string): Buffer {
  return generateNTResponseFromHash(authenticatorChallenge, peerChallenge, userName, ntPasswordHash(password));
}

const MAGIC1 = Buffer.from('Magic server to client signing constant', 'ascii');
const MAGIC2 = Buffer.from('Pad to make it do more than one iteration', 'ascii');

/** RFC 2759 §8.7 GenerateAuthenticatorResponse from the NT hash: "S=" + 40 upper-case hex digits. */
export function generateAuthenticatorResponseFromHash(
  passwordHash: Uint8Array,
  ntResponse: Uint8Array,
  peerChallenge: Uint8Array,
  authenticatorChallenge: Uint8Array,
  userName: string | Uint8Array,
): string {
  const hh = hashNtPasswordHash(passwordHash);
  const digest = sha('sha1', hh, ntResponse, MAGIC1);
  const ch = challengeHash(peerChallenge, authenticatorChallenge, userName);
  const out = sha('sha1', digest, ch, MAGIC2);
  return 'S=' + out.toString('hex').toUpperCase();
}

/** RFC 2759 §8.7 GenerateAuthenticatorResponse(Password, NT-Response, PeerChallenge, AuthenticatorChallenge, UserName). */
export function generateAuthenticatorResponse(
  password: string,
  ntResponse: Uint8Array,
  peerChallenge: Uint8Array,
  authenticatorChallenge: Uint8Array,
  userName: string,
): string {
  return generateAuthenticatorResponseFromHash(ntPasswordHash(password), ntResponse, peerChallenge, authenticatorChallenge, userName);
}

/** Constant-time check of a peer's NT-Response (lengths checked first: timingSafeEqual throws on a mismatch). */
export function verifyNTResponse(
  authenticatorChallenge: Uint8Array,
  peerChallenge: Uint8Array,
  userName: string | Uint8Array,
  passwordHash: Uint8Array,
  ntResponse: Uint8Array,
): boolean {
  const expected = generateNTResponseFromHash(authenticatorChallenge, peerChallenge, userName, passwordHash);
  return ntResponse.length === expected.length && timingSafeEqual(expected, ntResponse);
}
