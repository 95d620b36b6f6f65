import type { Counters } from '../core/counters.js';
import type { LogEvent } from '../core/log.js';
import type { ChildSaDown, ChildSaUp, Endpoint } from '../core/sa.js';
import type { SkSuite } from './crypto/algorithms.js';
import type { IkeKeys } from './crypto/keys.js';
import type { SkKeys } from './crypto/sk.js';
import type { FragmentReassembler } from './fragments.js';
import type { AuthState, Ikev2AuthConfig } from './ike-auth.js';
import type { NatResult } from './natd.js';
import type { IkeHeader } from './wire/header.js';
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
  /** Certificate, users and pool for IKE_AUTH; without it IKE_AUTH is refused. */
  auth?: Ikev2AuthConfig;
  /** Largest encrypted response before it is sent in SKF fragments (RFC 7383), default 1280. */
  fragmentSize?: number;
  /** Seconds of silence before a liveness check (DPD), default 30; 0 = off. */
  dpdIdle?: number;
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

/** IKE_AUTH done: the user logged in and has a virtual IP. */
export interface IkeSaUp {
  type: 'ikev2-sa-up';
  id: string;
  peer: Endpoint;
  user: string;
  virtualIp: string;
  suite: string;
}

export type Ikev2Output = SendOutput | IkeSaInitDone | IkeSaUp | IkeSaGone | ChildSaUp | ChildSaDown | LogEvent;

/** A child SA of an IKE SA: our inbound SPI and the peer's. */
export interface Ikev2Child {
  id: string;
  ourSpi: number;
  peerSpi: number;
}

/** INIT_DONE: IKE_SA_INIT answered; AUTH: IKE_AUTH under way (EAP); ESTABLISHED: authenticated. */
/** REKEYED: replaced by a new IKE SA (§2.18), kept until the client deletes it. */
export type Ikev2SaState = 'INIT_DONE' | 'AUTH' | 'ESTABLISHED' | 'DELETING' | 'REKEYED';

/** A request we sent (one at a time, window size 1, §2.3) and its retransmissions. */
export interface OwnRequest {
  kind: 'dpd' | 'delete';
  messageId: number;
  datagrams: Buffer[];
  sentAt: number;
  tries: number;
}

/** The last response, for retransmitted requests (§2.1). */
export interface CachedResponse {
  messageId: number;
  /** The request datagram (or its fragment 1) that a retransmission repeats. */
  request: Buffer;
  datagrams: Buffer[];
}

/** One IKE SA of the responder. */
export interface Ikev2Sa {
  id: string;
  state: Ikev2SaState;
  spiI: Buffer;
  spiR: Buffer;
  /** Where IKE_SA_INIT came from (the half-open accounting key). */
  origin: Endpoint;
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
  sk: SkSuite;
  /** Keys for what the initiator sends (SK_ei, SK_ai) and what we send (SK_er, SK_ar). */
  skIn: SkKeys;
  skOut: SkKeys;
  reassembler: FragmentReassembler;
  lastResponse?: CachedResponse;
  /** Fragment 1 of the request being reassembled. */
  firstFragment?: Buffer;
  auth?: AuthState;
  /** An IKE_AUTH request whose EAP Response is with the remote verifier (RADIUS): answered by eapResult. */
  authWaiting?: { h: IkeHeader; request: Buffer };
  children: Map<number, Ikev2Child>;
  /** Time of the last authenticated message from the peer (liveness). */
  lastSeen: number;
  /** Message ID of our next request (each direction counts from 0, §2.2). */
  nextOwnId: number;
  ownRequest?: OwnRequest;
  /** Set when established: the EAP user and the virtual IP. */
  user?: string;
  virtualIp?: string;
  /** When the SA became REKEYED. */
  rekeyedAt?: number;
}
