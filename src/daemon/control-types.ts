import type { HistoryEntry } from './history.js';

/** One live session as the control API reports it (GET /v1/sessions, /v1/status). */
export interface SessionInfo {
  /** The daemon's session key (what `l2tpsec disconnect` accepts besides a user name). */
  id: string;
  user: string | null;
  /** Address assigned by IPCP. */
  address: string | null;
  /** `l2tp` (L2TP/IPsec with PPP) or `ikev2` (IKEv2 with EAP-MSCHAPv2 and a virtual IP). */
  kind: 'l2tp' | 'ikev2';
  /** Outer address:port of the client as seen here (after NAT). */
  peer: string | null;
  /** true = ESP in UDP 4500 (RFC 3948), false = raw ESP, null = no SA found. */
  natT: boolean | null;
  /** IKE proposal label, e.g. "aes256-sha256-modp2048". */
  ike: string | null;
  /** ESP transform, e.g. "aes-cbc256-hmac-sha1-96". */
  esp: string | null;
  /** ISO 8601 start time. */
  started: string;
  /** Seconds since the session started. */
  uptime: number;
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
  /** Seconds since the last packet from the client (null before IPCP is up). */
  idle: number | null;
  /** PPP phase. */
  phase: string;
}

export interface StatusInfo {
  /** "address:port" UDP endpoints. */
  listen: string[];
  /** "SALT:DIGEST": a per-daemon random salt and HMAC-SHA256(salt, PSK) cut to 16 hex digits (control-util.ts); never the PSK. */
  pskFingerprint: string;
  pool: { cidr: string; size: number; used: number; free: number };
  ikeSas: number;
  users: number;
  /** Seconds since the daemon started. */
  uptime: number;
  sessions: SessionInfo[];
  /** The daemon's counters by name (handshake failures, auth failures, drops by reason, ...), when it has them. */
  counters?: Record<string, number>;
  /** With [radius]: each server's state and counters, and the accounting requests waiting in the spool. */
  radius?: { servers: RadiusServerInfo[]; spooled: number };
}

export interface RadiusServerInfo {
  /** "address:auth_port". */
  name: string;
  address: string;
  authPort: number;
  acctPort: number;
  /** dead = passed over after a timeout until its dead time ends. */
  state: 'alive' | 'dead';
  /** Seconds until a dead server is tried again (only when dead). */
  retryIn?: number;
  /** Seconds since its last valid reply; null: none since the daemon started. */
  lastAnswer: number | null;
  /** Requests in flight now. */
  outstanding: number;
  /** Datagrams sent (first transmissions and retransmissions). */
  requests: number;
  retransmissions: number;
  timeouts: number;
  accepts: number;
  rejects: number;
  accounted: number;
  /** Replies dropped (bad authenticator, no Message-Authenticator, unknown Identifier, malformed). */
  drops: number;
}

/** Something that happened, as streamed by GET /v1/events (one JSON object per event). */
export interface DaemonEvent {
  /** session.start, session.stop, ike.sa.up, ike.sa.down, ipsec.sa.up, ipsec.sa.down, users.reload, session.disconnect */
  type: string;
  /** ISO 8601. */
  time: string;
  [field: string]: unknown;
}

export interface DisconnectTarget {
  user?: string;
  session?: string;
}

/** What the control server needs from the daemon (Daemon implements it; tests may fake it). */
export interface ControlTarget {
  statusInfo(): StatusInfo;
  usersInfo(): Array<{ name: string; address: string | null; maxSessions: number | null }>;
  /** Close matching sessions cleanly; returns the ids being closed. */
  disconnect(target: DisconnectTarget, reason: string): string[];
  /** Reload the users file (same as SIGHUP). */
  reload(): Promise<{ users: number }>;
  history(opts: { user?: string; limit?: number }): HistoryEntry[];
  /** Returns the unsubscribe function. */
  subscribe(fn: (e: DaemonEvent) => void): () => void;
  /** The daemon's counters (added to GET /v1/status when present). */
  counterSnapshot?(): Record<string, number>;
}

