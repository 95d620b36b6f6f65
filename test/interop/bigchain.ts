/**
 * A certificate chain larger than 1500 bytes (the `ikev2-big-chain` scenario): the server's
 * chain is `cert init --key-bits 4096 --intermediate` (server certificate + intermediate CA),
 * so its first IKE_AUTH response cannot go in one datagram. It must reach the client as
 * RFC 7383 fragments: the server's capture has that response as SKF payloads (type 53),
 * every fragment of the set sent, none larger than a 1280-byte IPv6-minimum path takes with
 * room to spare; charon logs the reassembly, and its IKE SA (checked at `ike-sa`) proves
 * the chain was put together and verified up to the root it trusts.
 */
import { join } from 'node:path';
import { checks, readIf, type Client, type Ctx } from './attempt.js';
import { pcapIpv4Packets } from './faults.js';
import { SERVER_ADDR } from './netns.js';

const SKF = 53;
const IKE_AUTH = 35;
const RESPONSE = 0x20;

export interface FragmentedResponse {
  messageId: number;
  total: number;
  /** Distinct fragment numbers seen (a retransmission repeats them). */
  numbers: Set<number>;
  /** Datagrams in all, retransmissions included. */
  datagrams: number;
  /** The largest IP packet of the set, and how many were IP fragments (MF or an offset). */
  largestIp: number;
  ipFragments: number;
}

/** IKE_AUTH responses the server sent as SKF fragments, by IKE SA and Message ID. */
export function fragmentedAuthResponses(pcap: string): FragmentedResponse[] {
  const sets = new Map<string, FragmentedResponse>();
  for (const ip of pcapIpv4Packets(pcap)) {
    if (ip.length < 28 || ip[9] !== 17) continue;
    if (`${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}` !== SERVER_ADDR) continue;
    const udp = ip.subarray((ip[0]! & 0x0f) * 4);
    if (udp.length < 8) continue;
    const sport = udp.readUInt16BE(0);
    let ike: Buffer;
    if (sport === 500) ike = udp.subarray(8);
    else if (sport === 4500 && udp.length >= 12 && udp.readUInt32BE(8) === 0) ike = udp.subarray(12);
    else continue;
    if (ike.length < 36 || ike[16] !== SKF || ike[18] !== IKE_AUTH || (ike[19]! & RESPONSE) === 0) continue;
    const messageId = ike.readUInt32BE(20);
    const key = `${ike.subarray(0, 16).toString('hex')}/${messageId}`;
    const number = ike.readUInt16BE(32);
    const total = ike.readUInt16BE(34);
    const set = sets.get(key) ?? { messageId, total, numbers: new Set<number>(), datagrams: 0, largestIp: 0, ipFragments: 0 };
    set.total = Math.max(set.total, total);
    set.numbers.add(number);
    set.datagrams++;
    set.largestIp = Math.max(set.largestIp, ip.readUInt16BE(2));
    if ((ip.readUInt16BE(6) & 0x3fff) !== 0) set.ipFragments++;
    sets.set(key, set);
  }
  return [...sets.values()];
}

/** DER bytes of the PEM certificates in a file. */
export function chainBytes(pemFile: string): { count: number; bytes: number } {
  const text = readIf(pemFile);
  const ders = [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) => Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
  return { count: ders.length, bytes: ders.reduce((n, d) => n + d.length, 0) };
}

export function bigChainChecks(ctx: Ctx, c: Client, chainFile: string): string[] {
  const { fails, check } = checks(ctx, 'big-chain');
  const chain = chainBytes(chainFile);
  check(chain.count === 2 && chain.bytes > 1500, 'the server chain (server + intermediate CA) is larger than 1500 bytes', `${chain.count} certificates, ${chain.bytes} bytes of DER in ${chainFile}`);
  const sets = fragmentedAuthResponses(ctx.pcap);
  const whole = sets.filter((s) => s.total >= 2 && s.numbers.size === s.total);
  const detail = sets.length === 0 ? 'no IKE_AUTH response with an Encrypted Fragment payload (53) from the server in server.pcap' : sets.map((s) => `message ${s.messageId}: ${s.numbers.size} of ${s.total} fragments, ${s.datagrams} datagrams, largest IP packet ${s.largestIp} bytes, ${s.ipFragments} IP fragments`).join('; ');
  check(whole.length > 0, 'IKE_AUTH response sent as RFC 7383 fragments (SKF payloads in the server capture)', detail);
  check(sets.length > 0 && sets.every((s) => s.largestIp <= 1500 && s.ipFragments === 0), 'every fragment crosses a 1500-byte path without IP fragmentation', detail);
  const charon = readIf(join(c.hdir, 'charon.log'));
  const reassembled = /received fragment #\d+ of \d+, reassembled fragmented IKE message \(\d+ bytes\)/.exec(charon)?.[0];
  const intermediate = /using untrusted intermediate certificate "[^"]*"/.exec(charon)?.[0];
  check(reassembled !== undefined, 'charon reassembled the fragmented IKE_AUTH response', reassembled ?? 'no "reassembled fragmented IKE message" in charon.log');
  check(intermediate !== undefined, 'charon built the path through the intermediate CA the server sent', intermediate ?? 'no "using untrusted intermediate certificate" in charon.log');
  return fails;
}
