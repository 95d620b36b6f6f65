/**
 * A remote verifier of passwords (RADIUS) as the pipeline sees it: a port it asks
 * about one login attempt of a session, answered later through Pipeline.authResult.
 * The pipeline does no I/O: the daemon's host sends the request and routes the
 * answer back (src/daemon/radius-host.ts).
 */
import type { Endpoint } from '../core/sa.js';
import type { RemoteAttempt, RemoteVerdict } from '../ppp/auth.js';
import type { SessionHandle } from './table.js';

export type { RemoteAttempt, RemoteVerdict };

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
}
