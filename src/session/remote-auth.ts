/**
 * A remote verifier of passwords (RADIUS) as the pipeline sees it: a port it asks
 * about one login attempt of a session, answered later through Pipeline.authResult.
 * The pipeline does no I/O: the daemon's host sends the request and routes the
 * answer back (src/daemon/radius-host.ts).
 */
import type { Endpoint } from '../core/sa.js';
import type { EapRemoteAttempt } from '../ikev2/index.js';
import type { RemoteAttempt, RemoteVerdict } from '../ppp/auth.js';
import type { SessionHandle } from './table.js';

export type { EapRemoteAttempt, RemoteAttempt, RemoteVerdict };

/**
 * The answer for IKEv2's EAP-MSCHAPv2: the Success String, the MSK (from the MPPE keys), the
 * address RADIUS gave, and its Session-Timeout and Idle-Timeout (seconds; they replace
 * `ppp.idle_timeout` for that session, as for PPP).
 */
export type EapVerdict =
  | { kind: 'accept'; success: string; msk: Buffer; address?: string; sessionTimeout?: number; idleTimeout?: number }
  | { kind: 'reject'; reason: string }
  | { kind: 'unavailable'; reason: string };

export interface RemoteAuthPort {
  /**
   * Ask about one attempt of a session; at most one is outstanding per session (a newer
   * one replaces it). The answer, whenever it comes, goes to Pipeline.authResult(handle, ...).
   */
  request(handle: SessionHandle, attempt: RemoteAttempt, who: { peer: Endpoint; session: string }): void;
  /** The session ended (or never got past authentication): forget what was asked for it. */
  ended(handle: SessionHandle): void;
  /** Check the users file when no verifier answers. */
  readonly localFallback: boolean;
  /**
   * IKEv2: an EAP-MSCHAPv2 Response of the IKE SA `saId` (no session exists before the
   * login); the answer goes to Pipeline.eapResult(saId, ...).
   */
  requestEap?(saId: string, attempt: EapRemoteAttempt, who: { peer: Endpoint }): void;
  /** The IKE SA is gone: forget what was asked for it. */
  endedEap?(saId: string): void;
}
