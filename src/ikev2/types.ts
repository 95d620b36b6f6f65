import type { Counters } from '../core/counters.js';
import type { LogEvent } from '../core/log.js';
import type { Endpoint } from '../core/sa.js';
import type { IkeKeys } from './crypto/keys.js';
import type { NatResult } from './natd.js';
import type { IkeSuite, Ikev2Policy } from './policy.js';

export interface Ikev2ResponderConfig {
  /** Random per daemon run: keys the COOKIE (§2.6). */
  cookieSecret: Buffer;
  /** Default crypto.randomBytes (tests inject). */
  random?: (n: number) => Buffer;
  /** Default DEFAULT_IKEV2_POLICY. */
  policy?: Ikev2Policy;
  counters?: Counters;
  /** Send a NAT_DETECTION_SOURCE_IP that cannot match, so the client always UDP-encapsulates (strongSwan's encap=yes). Default false. */
  forceEncapsulation?: boolean;
  /** Half-open IKE SAs from which on a COOKIE is required (strongSwan's cookie_threshold, default 10). */
  cookieThreshold?: number;
  /** Half-open IKE SAs per peer address (strongSwan's block_threshold, default 5) and in total (default 1000). */
  halfOpenPerAddress?: number;
  halfOpenTotal?: number;
  /** Announce IKEV2_FRAGMENTATION_SUPPORTED when the client does (RFC 7383), default true. */
  fragmentation?: boolean;
  /** Hashes announced in SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4), default SHA2-256/384/512. */
  signatureHashes?: number[];
}

export interface SendOutput {
  type: 'send';
  /** Our address:port the request came to (500 or 4500: the I/O layer adds the non-ESP marker on 4500). */
  from: Endpoint;
  to: Endpoint;
  data: Buffer;
}

/** IKE_SA_INIT answered: keys exist, IKE_AUTH is awaited. */
export interface IkeSaInitDone {
  type: 'ikev2-sa-init';
  id: string;
  peer: Endpoint;
  suite: string;
  nat: NatResult;
  fragmentation: boolean;
}

export interface IkeSaGone {
  type: 'ikev2-sa-gone';
  id: string;
  peer: Endpoint;
  reason: string;
}

export type Ikev2Output = SendOutput | IkeSaInitDone | IkeSaGone | LogEvent;

export type Ikev2SaState = 'INIT_DONE';

/** One IKE SA of the responder. */
export interface Ikev2Sa {
  id: string;
  state: Ikev2SaState;
  spiI: Buffer;
  spiR: Buffer;
  /** Where the client is (address:port of its last authenticated message). */
  peer: Endpoint;
  /** Our address:port it reached. */
  local: Endpoint;
  created: number;
  suite: IkeSuite;
  keys: IkeKeys;
  ni: Buffer;
  nr: Buffer;
  /** RealMessage1 and RealMessage2 of the AUTH computation (§2.15). */
  initRequest: Buffer;
  initResponse: Buffer;
  nat: NatResult;
  /** Both sides announced IKEV2_FRAGMENTATION_SUPPORTED. */
  fragmentation: boolean;
  /** Hash algorithms of the client's SIGNATURE_HASH_ALGORITHMS (RFC 7427), empty when absent. */
  peerSignatureHashes: number[];
  /** Message ID of the next request expected from the initiator. */
  nextRequestId: number;
}
