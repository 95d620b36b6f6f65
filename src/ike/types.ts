import type { Counters } from '../core/counters.js';
import type { LogEvent } from '../core/log.js';
import type { ChildSaDown, ChildSaUp, Endpoint } from '../core/sa.js';
import type { ProposalPolicy } from './policy.js';

export interface IkeResponderConfig {
  psk: Buffer;
  /** Unused since responder cookies are random (kept so existing callers compile). */
  cookieSecret: Buffer;
  /** Default crypto.randomBytes (tests inject). */
  random?: (n: number) => Buffer;
  /** Default true: claim the peer is behind a NAT so it floats to 4500 and UDP-encapsulates ESP. */
  forceEncapsulation?: boolean;
  /** MD5 (phase 1 hash, HMAC-MD5-96); default false. Single DES is not supported at all. */
  allowLegacy?: boolean;
  /** Default: the CLIENTS.md set (DEFAULT_POLICY). */
  policy?: ProposalPolicy;
  /** Seconds, default 86400. */
  ikeLifetimeMax?: number;
  /** Seconds, default 28800. */
  childLifetimeMax?: number;
  /** Seconds of silence before a DPD probe, default 30; 0 = off. */
  dpdIdle?: number;
  counters?: Counters;
  /**
   * Our Phase 1 identity (IDir): an IPv4 address becomes ID_IPV4_ADDR, anything else ID_FQDN.
   * Default: ID_IPV4_ADDR of the local address the peer reached (set this when the server is behind NAT).
   */
  localId?: string;
  /**
   * Half-open Phase 1 SAs per peer address (default 10) and in total (default 1000). When one is
   * reached, a new MM1 evicts the oldest half-open SA (of that address, else of all) instead of
   * being refused, so spoofed MM1s cannot lock real clients out.
   */
  halfOpenPerAddress?: number;
  halfOpenTotal?: number;
  /** Larger IKE messages are dropped unparsed (default 10000 bytes, as strongSwan's max_packet). */
  maxMessageSize?: number;
  /**
   * Established IKE SAs per peer address (default 100), per Phase 1 identity (default 1000) and in
   * total (default 10000). Over a limit, Main Mode fails at MM5 unless the peer already has an SA
   * under the same address:port and identity (a Phase 1 rekey): then its oldest SA is replaced.
   */
  ikeSasPerAddress?: number;
  ikeSasPerIdentity?: number;
  ikeSasTotal?: number;
  /** Child SAs (and Quick Modes in progress) per IKE SA, default 8; more are refused with NO-PROPOSAL-CHOSEN. */
  childSasPerIkeSa?: number;
  /** SPIs in one Delete payload, default 64; a payload with more is ignored. */
  maxDeleteSpis?: number;
}

export interface SendOutput {
  type: 'send';
  /** from.port is 500 or 4500; the I/O layer adds the 4-byte non-ESP marker on 4500. */
  from: Endpoint;
  to: Endpoint;
  data: Buffer;
}

export interface IkeSaUp {
  type: 'ike-sa-up';
  id: string;
  peer: Endpoint;
  peerId: string;
  algorithms: string;
}

export interface IkeSaDown {
  type: 'ike-sa-down';
  id: string;
  peer: Endpoint;
  reason: string;
}

/** An authenticated message of IKE SA `ikeSaId` came from a new outer endpoint: send to `remote` from now on. */
export interface PeerMoved {
  type: 'peer-moved';
  ikeSaId: string;
  /** The identity endpoint (what child SAs of this peer are keyed by). */
  peer: Endpoint;
  remote: Endpoint;
}

export type IkeOutput = SendOutput | ChildSaUp | ChildSaDown | IkeSaUp | IkeSaDown | PeerMoved | LogEvent;
