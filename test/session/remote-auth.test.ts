import { describe, expect, it } from 'vitest';
import { generateAuthenticatorResponseFromHash, ntPasswordHash, verifyNTResponse } from '../../src/ppp/index.js';
import type { RemoteAttempt, RemoteAuthPort, RemoteVerdict, SessionHandle } from '../../src/session/index.js';
import { World } from './harness.js';

/** A remote verifier port that records what it is asked; the test answers when it likes. */
class Port implements RemoteAuthPort {
  asked: Array<{ handle: SessionHandle; attempt: RemoteAttempt; session: string; peer: string }> = [];
  endedHandles: SessionHandle[] = [];
  constructor(readonly localFallback = false) {}
  request(handle: SessionHandle, attempt: RemoteAttempt, who: { peer: { address: string; port: number }; session: string }): void {
    this.asked.push({ handle, attempt, session: who.session, peer: `${who.peer.address}:${who.peer.port}` });
  }
  ended(handle: SessionHandle): void {
    this.endedHandles.push(handle);
  }
}

/** What RADIUS would answer: it holds the password, checks the NT-Response and computes MS-CHAP2-Success. */
function radiusModel(a: RemoteAttempt, password: string, grant: Extract<RemoteVerdict, { kind: 'accept' }>['grant'] = {}): RemoteVerdict {
  if (a.method !== 'mschapv2') throw new Error('MS-CHAPv2 expected');
  const hash = ntPasswordHash(password);
  const name = Buffer.from(a.userName);
  if (!verifyNTResponse(a.authenticatorChallenge, a.peerChallenge, name, hash, a.ntResponse)) return { kind: 'reject', reason: 'Access-Reject' };
  return { kind: 'accept', success: `${generateAuthenticatorResponseFromHash(hash, a.ntResponse, a.peerChallenge, a.authenticatorChallenge, name)} M=ok`, grant };
}

describe('pipeline with a remote verifier (RADIUS port)', () => {
  it('the login waits for the port; the answer brings the session up with the Framed-IP-Address; the users file is not consulted', () => {
    const port = new Port();
    // the users file knows alice with another password: only the verifier decides
    const w = new World({ remoteAuth: port }, [['alice', 'not the radius password']]);
    const c = w.client({ user: 'carol', password: 'radius password' });
    expect(c.connect(10_000)).toBe(false);
    expect(port.asked).toHaveLength(1); // the client's retransmitted Responses were not asked about again
    const ask = port.asked[0]!;
    expect(ask.attempt).toMatchObject({ method: 'mschapv2', userName: 'carol' });
    expect(ask.session).toBe(w.pipeline.table.get(ask.handle)!.id);
    w.pipeline.authResult(ask.handle, radiusModel(ask.attempt, 'radius password', { address: '10.40.0.200', sessionTimeout: 3600 }), w.now);
    expect(w.runUntil(() => c.ppp.ipcpOpened && w.pipeline.table.list().some((r) => r.address === '10.40.0.200'), 30_000)).toBe(true);
    expect(c.ppp.address).toBe('10.40.0.200');
    expect(w.pipeline.table.get(ask.handle)!.user).toBe('carol');
    expect(w.events.filter((e) => e.type === 'session.start').map((e) => e.fields['address'])).toEqual(['10.40.0.200']);
  });

  it('a Reject is the client\'s normal failure and an auth failure in the counters', () => {
    const port = new Port();
    const w = new World({ remoteAuth: port });
    const c = w.client({ user: 'carol', password: 'wrong' });
    expect(c.connect(5_000)).toBe(false);
    const ask = port.asked[0]!;
    w.pipeline.authResult(ask.handle, radiusModel(ask.attempt, 'radius password'), w.now);
    w.pump();
    expect(c.ppp.authFailures[0]).toMatch(/^E=691 /);
    expect(w.pipeline.counters.snapshot()['ppp.auth.failure']).toBe(1);
  });

  it('a session that ends while the verifier decides is cleaned up: the port is told, a late answer does nothing', () => {
    const port = new Port();
    const w = new World({ remoteAuth: port });
    const c = w.client({ user: 'carol', password: 'radius password' });
    expect(c.connect(5_000)).toBe(false);
    const ask = port.asked[0]!;
    expect(w.pipeline.disconnect({ session: ask.session }, 'admin disconnect', w.now)).toEqual([ask.session]);
    w.runUntil(() => w.pipeline.table.size === 0, 30_000);
    expect(w.pipeline.table.size).toBe(0);
    expect(port.endedHandles).toContain(ask.handle);
    w.pipeline.authResult(ask.handle, radiusModel(ask.attempt, 'radius password'), w.now);
    w.pump();
    expect(w.pipeline.sizes().poolUsed).toBe(0);
    expect(w.logs.filter((l) => l.event === 'internal.error')).toEqual([]);
  });

  it('every server down: failure, or the users file with fallback on', () => {
    const off = new Port(false);
    const w = new World({ remoteAuth: off });
    const c = w.client({ user: 'alice', password: 'alice password' });
    expect(c.connect(5_000)).toBe(false);
    w.pipeline.authResult(off.asked[0]!.handle, { kind: 'unavailable', reason: 'no RADIUS server answered' }, w.now);
    w.pump();
    expect(c.ppp.authFailures).toHaveLength(1);
    const on = new Port(true);
    const w2 = new World({ remoteAuth: on });
    const c2 = w2.client({ user: 'alice', password: 'alice password' });
    expect(c2.connect(5_000)).toBe(false);
    w2.pipeline.authResult(on.asked[0]!.handle, { kind: 'unavailable', reason: 'no RADIUS server answered' }, w2.now);
    expect(w2.runUntil(() => c2.ppp.ipcpOpened, 30_000)).toBe(true);
  });
});
