import type { ControlMessage } from './attributes.js';
import type { ControlChannel } from './reliable.js';

/** A received control message as the channel holds it: header Session ID plus the decoded AVPs. */
export interface Inbound {
  sessionId: number;
  msg: ControlMessage;
}

/**
 * Control connection states on the LNS side (RFC 2661 §7.2.1), plus
 * 'closing' (our StopCCN awaits its ack) and 'dead' (the peer's StopCCN was
 * acked; state lingers a full retransmission cycle to re-ack duplicates, §5.7).
 */
export type TunnelState = 'wait-ctl-conn' | 'established' | 'closing' | 'dead';

/** Incoming call states on the LNS side (RFC 2661 §7.4.2). */
export type SessionState = 'wait-connect' | 'established';

export interface Session {
  key: string;
  sessionId: number;
  peerSessionId: number;
  state: SessionState;
  tunnel: Tunnel;
  createdAt: number;
  callSerialNumber?: number;
  /** The peer sent Sequencing Required in ICCN: our data messages carry Ns/Nr (RFC 2661 §5.4). */
  sequencing: boolean;
  /** Ns of our next sequenced data message. */
  dataNs: number;
  /** ACCM from the last SLI (RFC 2661 §6.14), recorded only. */
  accm?: { send: number; receive: number };
  txConnectSpeed?: number;
  framingType?: number;
}

export interface Tunnel {
  peerKey: string;
  /** Group the per-peer tunnel limit applies to. */
  group: string;
  tunnelId: number;
  peerTunnelId: number;
  peerHostName: string;
  peerVendorName?: string;
  state: TunnelState;
  channel: ControlChannel<Inbound>;
  sessions: Map<number, Session>;
  /** Sessions still waiting for their ICCN. */
  pendingSessions: number;
  createdAt: number;
  /** Last time anything (control or data) was received on this tunnel. */
  lastHeard: number;
  /** Our Challenge in SCCRP, when a secret is configured. */
  ourChallenge?: Buffer;
  /** 'dead' state expiry. */
  lingerUntil?: number;
  /** tunnel-down was already emitted. */
  downEmitted: boolean;
}
