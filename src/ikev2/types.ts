import type { Counters } from '../core/counters.js';
import type { LogEvent } from '../core/log.js';
import type { ChildSaDown, ChildSaUp, Endpoint, EspTransform } from '../core/sa.js';
import type { SkSuite } from './crypto/algorithms.js';
import type { IkeKeys } from './crypto/keys.js';
import type { SkKeys } from './crypto/sk.js';
import type { FragmentReassembler } from './fragments.js';
import type { AuthState, Ikev2AuthConfig } from './ike-auth.js';
import type { NatResult } from './natd.js';
import type { IkeHeader } from './wire/header.js';
import type { IkeSuite, Ikev2Policy } from './policy.js';
import type { OurIkeRekey } from './rekey-ike.js';

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
  /** Seconds after which we rekey a child SA the client has not rekeyed (CREATE_CHILD_SA of ours), default 0 = never. */
  childRekey?: number;
  /** Seconds after which we rekey an IKE SA the client has not rekeyed (less up to a tenth at random), default 0 = never. */
  ikeRekey?: number;
  /** Answer MOBIKE_SUPPORTED (RFC 4555) when the client announces it, default true. */
  mobike?: boolean;
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

/**
 * The client is at another address and port now: the IKE SA answers and asks there,
 * and every child SA of `children` is to send there. `by`: 'mobike' = its
 * UPDATE_SA_ADDRESSES (RFC 4555 §3.5), 'esp' = authenticated ESP from there (its NAT
 * mapping changed, RFC 3948 §2.2). `verified` false: a return routability check
 * (COOKIE2) is under way; bulk data waits for 'ikev2-path-verified'.
 */
export interface IkeSaMoved {
  type: 'ikev2-sa-moved';
  id: string;
  from: Endpoint;
  peer: Endpoint;
  local: Endpoint;
  children: string[];
  by: 'mobike' | 'esp';
  verified: boolean;
}

/** The return routability check of the client's new address was answered with our COOKIE2 (RFC 4555 §3.5). */
export interface IkePathVerified {
  type: 'ikev2-path-verified';
  id: string;
  peer: Endpoint;
}

export type Ikev2Output = SendOutput | IkeSaInitDone | IkeSaUp | IkeSaGone | IkeSaMoved | IkePathVerified | ChildSaUp | ChildSaDown | LogEvent;

/** A child SA of an IKE SA: our inbound SPI and the peer's. */
export interface Ikev2Child {
  id: string;
  ourSpi: number;
  peerSpi: number;
  /** Its algorithms (what a rekey of ours proposes again) and when it came up. */
  transform?: EspTransform;
  created?: number;
  /** Replaced by a rekey (the client's or ours): not to be rekeyed again. */
  rekeyed?: boolean;
}

/** INIT_DONE: IKE_SA_INIT answered; AUTH: IKE_AUTH under way (EAP); ESTABLISHED: authenticated. */
/** REKEYED: replaced by a new IKE SA (§2.18), kept until the client deletes it. */
export type Ikev2SaState = 'INIT_DONE' | 'AUTH' | 'ESTABLISHED' | 'DELETING' | 'REKEYED';

/** A request we sent (one at a time, window size 1, §2.3) and its retransmissions. */
export interface OwnRequest {
  /**
   * dpd: liveness; delete: of the IKE SA; rekey-child: CREATE_CHILD_SA of ours; delete-child:
   * the child our rekey replaced; check: a return routability check of a new address
   * (RFC 4555 §3.5), an INFORMATIONAL with COOKIE2; rekey-ike: CREATE_CHILD_SA of ours
   * for the IKE SA (§2.18).
   */
  kind: 'dpd' | 'delete' | 'rekey-child' | 'delete-child' | 'check' | 'rekey-ike';
  /** rekey-child: the child, our new SPI and nonce; delete-child: the child. */
  rekey?: { old: Ikev2Child; ourSpi: number; ni: Buffer };
  child?: Ikev2Child;
  /** rekey-ike: the suite, our new SPI, nonce and DH key pair. */
  ikeRekey?: OurIkeRekey;
  /** The COOKIE2 of a check, which the answer must carry back. */
  cookie2?: Buffer;
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
  /**
   * We are the initiator of this IKE SA: it comes from a rekey of ours (§2.18). Our SPI
   * is then spiI, our messages carry the I flag, and we send with SK_ei/SK_ai.
   */
  weInitiated?: boolean;
  /** When we rekey it if the client has not (ESTABLISHED, `ikeRekey` set). */
  rekeyAt?: number;
  /** Our rekey of this SA is out and the client rekeyed it too: its new SA (§2.8.1). */
  successor?: Ikev2Sa;
  /** The reverse: the old SA whose rekey of ours is still out. */
  collidesWith?: Ikev2Sa;
  /** The client announced MOBIKE_SUPPORTED in IKE_AUTH (RFC 4555 §3.3); set on the SA once we answered it too. */
  mobikeOffered?: boolean;
  mobike?: boolean;
  /** A new address of the client not yet proven reachable: the COOKIE2 of the check to send (or sent) there. */
  pathCheck?: { cookie: Buffer; peer: Endpoint };
  /** The client's other addresses (ADDITIONAL_*_ADDRESS), at most 8, for logs; never used to send. */
  peerAddresses?: string[];
}
