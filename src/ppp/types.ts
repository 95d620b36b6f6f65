import type { Counters, RateLimiter } from '../core/counters.js';
import type { AuthFailureTracker } from './auth-failures.js';
import type { LogEvent } from '../core/log.js';
import type { RemoteAttempt } from './auth.js';

/** The types of PppSession's API (re-exported by session.ts). */

export interface PppUser {
  name: string;
  ntHash: Buffer;
  staticAddress?: string;
  maxSessions?: number;
}

export interface PppAuthBackend {
  lookup(name: string): PppUser | undefined;
  /** called after a successful password check; false = refuse (e.g. session limit reached) with a message */
  admit(name: string): { ok: true } | { ok: false; message: string };
  /**
   * Failed password checks per user and per peer address with backoff, shared by all sessions
   * (the caller owns one). Without it only the per-session retry cap applies.
   */
  failures?: AuthFailureTracker;
  /**
   * Passwords are checked elsewhere (RADIUS): each attempt is an 'auth-request' output and
   * its answer comes back through PppSession.authComplete.
   */
  remote?: boolean;
  /** With remote: check the users file when no verifier answers. */
  localFallback?: boolean;
}

export interface PppConfig {
  serverAddress: string; // e.g. 10.40.0.1
  dns: string[]; // up to 2
  mru?: number; // default 1360
  authProtocols?: Array<'mschapv2' | 'pap'>; // default ['mschapv2']
  maxAuthTries?: number; // default 3, per session (LCP renegotiation does not reset it)
  /** The client's outer address (what PppAuthBackend.failures counts per address). */
  peerAddress?: string;
  idleTimeout?: number; // s, default 0 = off
  serverName?: string; // name in the CHAP challenge, default 'l2tpsec'
  random?: (n: number) => Buffer;
  /** Our LCP Echo-Request keepalive interval in s (default 0 = off, as npppd over L2TP). */
  lcpEchoInterval?: number;
  /** Unanswered Echo-Requests before the link is declared dead (default 5). */
  lcpEchoFailure?: number;
  /**
   * false when the host drops debug lines (its log level is above debug): then the
   * session builds none (ppp.recv, ppp.send, ppp.fsm.state: several per packet). Default true.
   */
  debug?: boolean;
  /** Shared drop counters and log limiter (default: one per session). */
  counters?: Counters;
  rateLimiter?: RateLimiter;
}

export type PppOutput =
  | { type: 'send'; frame: Buffer } // a whole PPP frame (FF 03 + protocol + ...)
  | { type: 'auth-success'; user: string }
  | { type: 'auth-failure'; user: string; reason: string }
  /** Ask the remote verifier; answer with authComplete (one at a time; a retransmission is not asked again). */
  | { type: 'auth-request'; attempt: RemoteAttempt }
  | { type: 'ip-up'; user: string; address: string }
  | { type: 'ipv4'; packet: Uint8Array } // an IPv4 packet from the client
  | { type: 'closed'; reason: string; user?: string; address?: string } // the session is over: the daemon closes the L2TP session
  | LogEvent;

/** RFC 1661 §3.2 link phases. */
export type PppPhase = 'establish' | 'authenticate' | 'network' | 'terminate' | 'dead';

export interface PppStatus {
  phase: PppPhase;
  lcp: string;
  ipcp: string;
  auth: 'mschapv2' | 'pap';
  mru: number;
  peerMru: number;
  user?: string;
  address?: string;
  /** Seconds since the last IPv4 packet from the client (IPCP Opened only). */
  idleSeconds?: number;
}
