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

/** saPair for a tunnel-mode (IKEv2) child SA on both sides. */
export function tunnelPair(name: string, id = 'sa1', spiA = 0x1000, spiB = 0x2000, rnd: (n: number) => Buffer = randomBytes): SaPair {
  const p = saPair(name, id, spiA, spiB, rnd);
  p.ours.mode = 'tunnel';
  p.theirs.mode = 'tunnel';
  return p;
}

/** RFC 791 header checksum: ones' complement of the ones' complement sum of the header's 16-bit words. */
function headerChecksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < h.length; i += 2) sum += h.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * An IPv4 packet (RFC 791): `options` make the header longer (a multiple of 4
 * bytes), `totalLength` / `version` / `ihl` override the fields for bad ones.
 */
export function ipv4Packet(
  src: string,
  dst: string,
  payload: Uint8Array,
  o: { proto?: number; options?: Uint8Array; totalLength?: number; version?: number; ihl?: number; id?: number } = {},
): Buffer {
  const options = o.options ?? new Uint8Array(0);
  const h = Buffer.alloc(20 + options.length);
  h[0] = ((o.version ?? 4) << 4) | ((o.ihl ?? h.length / 4) & 15);
  h.writeUInt16BE(o.totalLength ?? h.length + payload.length, 2);
  h.writeUInt16BE(o.id ?? 0x1234, 4);
  h[8] = 64;
  h[9] = o.proto ?? 17;
  Buffer.from(src.split('.').map(Number)).copy(h, 12);
  Buffer.from(dst.split('.').map(Number)).copy(h, 16);
  Buffer.from(options).copy(h, 20);
  h.writeUInt16BE(headerChecksum(h), 10);
  return Buffer.concat([h, payload]);
}
