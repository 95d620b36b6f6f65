import { randomBytes } from 'node:crypto';
import type { ChildSaUp, EspTransform } from '../../src/core/sa.js';

export const TRANSFORMS: Record<string, EspTransform> = {
  'aes128-sha1': { cipher: 'aes-cbc', keyBits: 128, integ: 'hmac-sha1-96' },
  'aes192-sha1': { cipher: 'aes-cbc', keyBits: 192, integ: 'hmac-sha1-96' },
  'aes256-sha1': { cipher: 'aes-cbc', keyBits: 256, integ: 'hmac-sha1-96' },
  'aes128-sha256': { cipher: 'aes-cbc', keyBits: 128, integ: 'hmac-sha256-128' },
  'aes256-sha256': { cipher: 'aes-cbc', keyBits: 256, integ: 'hmac-sha256-128' },
  'aes256-sha384': { cipher: 'aes-cbc', keyBits: 256, integ: 'hmac-sha384-192' },
  'aes256-sha512': { cipher: 'aes-cbc', keyBits: 256, integ: 'hmac-sha512-256' },
  '3des-sha1': { cipher: '3des-cbc', keyBits: 192, integ: 'hmac-sha1-96' },
  '3des-sha256': { cipher: '3des-cbc', keyBits: 192, integ: 'hmac-sha256-128' },
  'aes128-md5': { cipher: 'aes-cbc', keyBits: 128, integ: 'hmac-md5-96' },
  aes128gcm16: { cipher: 'aes-gcm-16', keyBits: 128, integ: 'none' },
  aes256gcm16: { cipher: 'aes-gcm-16', keyBits: 256, integ: 'none' },
};

const AUTH_LEN: Record<string, number> = {
  'hmac-sha1-96': 20,
  'hmac-sha256-128': 32,
  'hmac-sha384-192': 48,
  'hmac-sha512-256': 64,
  'hmac-md5-96': 16,
  none: 0,
};

export interface SaPair {
  /** Our side (responder): receives on spiA, sends on spiB. */
  ours: ChildSaUp;
  /** The client's side: the same keys swapped. */
  theirs: ChildSaUp;
}

/** A child SA and its mirror image (keys and SPIs swapped) for two engines talking to each other. */
export function saPair(name: string, id = 'sa1', spiA = 0x1000, spiB = 0x2000, rnd: (n: number) => Buffer = randomBytes): SaPair {
  const t = TRANSFORMS[name];
  if (!t) throw new Error(`no transform ${name}`);
  const encLen = t.keyBits / 8 + (t.cipher === 'aes-gcm-16' ? 4 : 0);
  const authLen = AUTH_LEN[t.integ]!;
  const kIn = { spi: spiA, encKey: rnd(encLen), authKey: authLen ? rnd(authLen) : Buffer.alloc(0) };
  const kOut = { spi: spiB, encKey: rnd(encLen), authKey: authLen ? rnd(authLen) : Buffer.alloc(0) };
  const server = { address: '192.0.2.1', port: 4500 };
  const client = { address: '198.51.100.7', port: 40001 };
  const ours: ChildSaUp = {
    type: 'child-sa-up',
    id,
    ikeSaId: 'ike1',
    peer: client,
    local: server,
    encapsulation: 'udp',
    transform: t,
    inbound: kIn,
    outbound: kOut,
    lifetimeSeconds: 3600,
  };
  const theirs: ChildSaUp = { ...ours, id: `${id}-peer`, peer: server, local: client, inbound: kOut, outbound: kIn };
  return { ours, theirs };
}
