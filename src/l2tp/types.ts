import type { Counters, LogEvent } from '../core/index.js';
import type { ChannelConfig } from './reliable.js';

export interface L2tpServerConfig {
  /** Our Host Name AVP. */
  hostName: string;
  /** Tunnel secret (optional; most clients use none): Challenge/Response and hidden AVPs. */
  secret?: Buffer;
  /** Seconds of silence before a HELLO, default 60 (npppd); 0 disables HELLO. */
  helloInterval?: number;
  /** Tunnels in all, default 4096. */
  maxTunnels?: number;
  /** Tunnels per peer group (see peerGroup), default 1000 (SoftEther's per-IP limit). */
  maxTunnelsPerPeer?: number;
  /** Sessions per tunnel, default 1024 (SoftEther). */
  maxSessionsPerTunnel?: number;
  /** Maps a peer key to the group maxTunnelsPerPeer counts in (e.g. its outer address); default: the key itself. */
  peerGroup?: (peerKey: string) => string;
  /** Retransmission parameters (RFC 2661 §5.8), default window 8, 5 retries, 1 s doubling to 8 s. */
  channel?: Partial<ChannelConfig>;
  /** Seconds a tunnel may wait for SCCCN, or a session for ICCN, default 30. */
  setupTimeout?: number;
  random?: (n: number) => Buffer;
  counters?: Counters;
}

export type L2tpOutput =
  | { type: 'send'; peerKey: string; data: Buffer }
  | { type: 'session-up'; sessionKey: string; peerKey: string; tunnelId: number; sessionId: number; peerHostName: string }
  | { type: 'ppp-frame'; sessionKey: string; frame: Uint8Array }
  | { type: 'session-down'; sessionKey: string; reason: string }
  | { type: 'tunnel-down'; peerKey: string; tunnelId: number; reason: string }
  | LogEvent;

export interface L2tpTunnelInfo {
  peerKey: string;
  tunnelId: number;
  peerTunnelId: number;
  sessions: Array<{ sessionKey: string; sessionId: number; peerSessionId: number }>;
}
