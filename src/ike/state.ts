import type { Endpoint } from '../core/sa.js';
import type { Phase1Choice, Phase2Choice } from './policy.js';
import type { NatTVersion } from './natt.js';
import type { DhKeyPair } from './crypto/dh.js';
import type { Phase1Keys } from './crypto/keys.js';
import type { IdPayload } from './wire/id.js';

/** States of a Main Mode responder (RFC 2409 §5.4). */
export type IkeSaState = 'MM2_SENT' | 'MM4_SENT' | 'ESTABLISHED';

export interface CachedReply {
  /** requestDigest() of the request that produced the reply (retransmissions are recognised by it). */
  request: Buffer;
  reply: Buffer;
}

/** A Quick Mode exchange in progress (RFC 2409 §5.5). */
export interface QuickMode {
  messageId: number;
  started: number;
  /** IV for the next message of this exchange (App. B chain). */
  iv: Buffer;
  niB: Buffer;
  nrB: Buffer;
  choice: Phase2Choice;
  ourSpi: Buffer;
  peerSpi: Buffer;
  gqmxy?: Buffer;
  lifetimeSeconds: number;
  peerOriginalAddress?: string;
  cache: CachedReply;
  /** QM2 sent again on our own while QM3 is missing (the initiator never resends QM3: it is the last message). */
  resends: number;
  nextResend: number;
}

export interface ChildSa {
  id: string;
  ikeSaId: string;
  ourSpi: number;
  peerSpi: number;
  established: number;
  expiresAt: number;
}

export interface IkeSa {
  id: string;
  ckyI: Buffer;
  ckyR: Buffer;
  /** Where Main Mode message 1 came from (half-open accounting). */
  origin: Endpoint;
  /** The peer's outer endpoint when Phase 1 completed: its identity for the SAs it negotiates. */
  peer: Endpoint;
  /**
   * Where we send: `peer` until an authenticated message (or the ESP layer) shows the peer's
   * NAT mapping changed, then the new endpoint (RFC 3947 §4).
   */
  remote: Endpoint;
  local: Endpoint;
  state: IkeSaState;
  created: number;
  /** Last authenticated (or, before Phase 1 ends, any accepted) message from the peer. */
  lastSeen: number;
  established: number;
  expiresAt: number;
  saiB: Buffer;
  choice: Phase1Choice;
  natT?: NatTVersion;
  peerDpd: boolean;
  dh?: DhKeyPair;
  gxi?: Buffer;
  gxr?: Buffer;
  niB?: Buffer;
  nrB?: Buffer;
  keys?: Phase1Keys;
  /** Phase 1 IV chain; after MM6 the last CBC block of Phase 1 (seed of Phase 2 IVs). */
  iv: Buffer;
  peerId: string;
  /**
   * The last Main Mode request and our reply to it (retransmissions). MM6_CACHE_NOTE: MM6 is
   * forgotten at the peer's first authenticated Phase 2 message: its IV chain starts from
   * MM6's last block, so the peer has MM6 and never resends MM5.
   */
  cache?: CachedReply;
  quickModes: Map<number, QuickMode>;
  usedMessageIds: Set<number>;
  children: Map<string, ChildSa>;
  /** RFC 3706 state: last sequence sent, first unanswered one (0 = none), when the first probe went out. */
  dpd: { seq: number; outstanding: number; nextProbe: number; tries: number; sentAt: number };
}
