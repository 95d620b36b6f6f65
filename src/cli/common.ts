import { resolve } from 'node:path';
import { UsageError } from './errors.js';

export const DEFAULT_CONFIG = '/etc/l2tpsec/l2tpsec.toml';

/** Where a command writes: stdout for results (and JSON errors), stderr for messages. */
export interface Io {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

export function configPath(v: string | undefined): string {
  return resolve(v ?? process.env['L2TPSEC_CONFIG'] ?? DEFAULT_CONFIG);
}

/** A whole number option (--limit, --max-sessions): bad usage otherwise. */
export function wholeNumber(name: string, min: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`${name} must be a whole number${min > 0 ? ` of at least ${min}` : ''}, got ${JSON.stringify(v)}`);
    return n;
  };
}

export interface UsersOptions {
  config?: string;
  address?: string;
  maxSessions?: number;
  json?: boolean;
  /** Generate an IKEv2 pre-shared key (printed once). */
  ikev2Psk?: boolean;
  /** Read the IKEv2 pre-shared key from this file. */
  ikev2PskFile?: string;
  /** `users passwd`: drop the IKEv2 key. */
  removeIkev2Psk?: boolean;
}

export interface ControlOptions {
  config?: string;
  socket?: string;
  json?: boolean;
  user?: string;
  limit?: number;
  target?: string | undefined;
}

export interface ProfileOptions {
  config?: string;
  server?: string;
  name?: string;
  out?: string;
  /** ikev2 | l2tp; default ikev2 when [ikev2] enabled, else l2tp. */
  type?: string;
  /** --ca FILE: the CA to put in the profile; --no-ca: none (false). */
  ca?: string | false;
  /** android + ikev2: the built-in client's PSK steps. */
  psk?: boolean;
  /** android + ikev2: the strongSwan app's .sswan file. */
  sswan?: boolean;
  /** IKEv2 with --out: a QR code of the URL the written file will be served at. */
  qr?: string;
}

