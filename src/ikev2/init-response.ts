import type { Endpoint } from '../core/sa.js';
import { detectNat, natDetectionHash, type NatResult } from './natd.js';
import { NotifyType, PayloadType } from './wire/constants.js';
import type { Payload } from './wire/message.js';
import { notify, type NotifyPayload } from './wire/notify.js';
import type { Proposal } from './wire/sa.js';

/**
 * The payloads of an IKE_SA_INIT response (RFC 7296 §1.2) and what the request's
 * notifies announced: SA, KE, Nr; NAT detection when the client sent it (§2.23, our
 * hashes over the response's SPIs, the source one faked when encapsulation is forced);
 * IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383) and SIGNATURE_HASH_ALGORITHMS (RFC 7427)
 * only in answer to the client's.
 */
export interface InitResponseInput {
  spiI: Buffer;
  spiR: Buffer;
  from: Endpoint;
  to: Endpoint;
  notifies: NotifyPayload[];
  choice: Proposal;
  group: number;
  publicValue: Buffer;
  nr: Buffer;
  forceEncapsulation: boolean;
  fragmentation: boolean;
  signatureHashes: number[];
  random: (n: number) => Buffer;
}

export interface InitResponse {
  payloads: Payload[];
  nat: NatResult;
  fragmentation: boolean;
  peerSignatureHashes: number[];
}

const ZERO_SPI = Buffer.alloc(8);

export function initResponse(a: InitResponseInput): InitResponse {
  const of = (t: number) => a.notifies.filter((n) => n.type === t);
  const nat = detectNat(a.spiI, ZERO_SPI, a.from, a.to, of(NotifyType.NAT_DETECTION_SOURCE_IP).map((n) => n.data), of(NotifyType.NAT_DETECTION_DESTINATION_IP).map((n) => n.data));
  const shaN = of(NotifyType.SIGNATURE_HASH_ALGORITHMS)[0];
  const peerSignatureHashes: number[] = [];
  if (shaN) for (let i = 0; i + 1 < shaN.data.length; i += 2) peerSignatureHashes.push(shaN.data.readUInt16BE(i));

  const payloads: Payload[] = [
    { type: PayloadType.SA, value: { proposals: [a.choice] } },
    { type: PayloadType.KE, value: { group: a.group, data: a.publicValue } },
    { type: PayloadType.NONCE, value: { nonce: a.nr } },
  ];
  if (nat.supported) {
    const ourSource = a.forceEncapsulation ? a.random(20) : natDetectionHash(a.spiI, a.spiR, a.to);
    payloads.push({ type: PayloadType.N, value: notify(NotifyType.NAT_DETECTION_SOURCE_IP, ourSource) });
    payloads.push({ type: PayloadType.N, value: notify(NotifyType.NAT_DETECTION_DESTINATION_IP, natDetectionHash(a.spiI, a.spiR, a.from)) });
  }
  const fragmentation = a.fragmentation && of(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED).length > 0;
  if (fragmentation) payloads.push({ type: PayloadType.N, value: notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED) });
  if (shaN) {
    const d = Buffer.alloc(a.signatureHashes.length * 2);
    a.signatureHashes.forEach((h, i) => d.writeUInt16BE(h, i * 2));
    payloads.push({ type: PayloadType.N, value: notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, d) });
  }
  return { payloads, nat, fragmentation, peerSignatureHashes };
}
