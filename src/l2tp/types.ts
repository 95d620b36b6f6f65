import type { Counters, LogEvent } from '../core/index.js';
import type { ChannelConfig } from './reliable.js';

export interface L2tpServerConfig {
  /** Our Host Name AVP. */
  hostName: string;
  /** Tunnel secret (optional; most clients use none): Challenge/Response and hidden AVPs. */
  secret?: Buffer;
  /** Seconds of silence before a HELLO, default 60 (npppd); 0 disables HELLO. */
  helloInterval?: number;
  /** Tunnels in all, default 10000 (`[limits] tunnels_total`). */
  maxTunnels?: number;
  /** Tunnels per peer group (see peerGroup), default 128; tunnels lingering after StopCCN count. */
  maxTunnelsPerPeer?: number;
  /** Sessions per tunnel, default 8 (a client makes one). */
  maxSessionsPerTunnel?: number;
  /** Sessions in all (bounds memory whatever the peers do), default 16384. */
  maxSessions?: number;
  /** Maps a peer key to the group maxTunnelsPerPeer counts in (e.g. its outer address); default: the key itself. */
  peerGroup?: (peerKey: string) => string;
  /** Retransmission parameters (RFC 2661 §5.8), default window 8, 5 retries, 1 s doubling to 8 s. */
  channel?: Partial<ChannelConfig>;
  /** Seconds a tunnel may wait for SCCCN, or a session for ICCN, default 30. */
  setupTimeout?: number;
  random?: (n: number) => Buffer;
  counters?: Counters;
}

/**
 * What the LNS asks of the daemon. In one output array the order matters:
 * a tunnel's session-down events come before its tunnel-down.
 */
export type L2tpOutput =
  /** One L2TP datagram to send to that peer (through its SA, inner UDP 1701). */
  | { type: 'send'; peerKey: string; data: Buffer }
  /** ICCN received: the PPP layer may start (sessionKey = `${peerKey}/${tunnelId}/${sessionId}`, our ids). */
  | { type: 'session-up'; sessionKey: string; peerKey: string; tunnelId: number; sessionId: number; peerHostName: string }
  /** A PPP frame as carried (FF 03 first if the peer sent them). A view into the received datagram: use it before that buffer is reused. */
  | { type: 'ppp-frame'; sessionKey: string; frame: Uint8Array }
  /** A session that was up is gone (peer CDN, closeSession, tunnel teardown); emitted once per session-up. */
  | { type: 'session-down'; sessionKey: string; reason: string }
  /** The tunnel is gone (StopCCN either way, retry limit, closePeer, shutdown); emitted once per tunnel. */
  | { type: 'tunnel-down'; peerKey: string; tunnelId: number; reason: string }
  | LogEvent;

export interface L2tpTunnelInfo {
  peerKey: string;
  tunnelId: number;
  peerTunnelId: number;
  sessions: Array<{ sessionKey: string; sessionId: number; peerSessionId: number }>;
}
