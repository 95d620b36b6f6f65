import { describe, expect, it } from 'vitest';
import { AddressPool, PppSession, generateAuthenticatorResponseFromHash, ntPasswordHash, verifyNTResponse, type PppOutput } from '../../src/ppp/index.js';
import { frame } from './client.js';
import { AuthFailureTracker } from '../../src/ppp/auth-failures.js';
import type { RemoteAttempt, RemoteVerdict } from '../../src/ppp/auth.js';
import { Backend, config, connect, deliver, ofType, pump, runTimers, type Run } from './harness.js';

/**
 * PPP with a remote verifier (RADIUS): the Response is handed out as 'auth-request' and
 * the answer comes back later through authComplete. The verifier here is a model of
 * RADIUS's MS-CHAPv2 check: it holds the password and computes the real
 * MS-CHAP2-Success (RFC 2759 §5), which the session must pass to the client as is.
 */
function verifierAnswer(attempt: RemoteAttempt, passwords: Record<string, string>): RemoteVerdict {
  if (attempt.method !== 'mschapv2') throw new Error('expected MS-CHAPv2');
  const pw = passwords[attempt.userName];
  if (pw === undefined) return { kind: 'reject', reason: 'Access-Reject' };
  const hash = ntPasswordHash(pw);
  if (!verifyNTResponse(attempt.authenticatorChallenge, attempt.peerChallenge, Buffer.from(attempt.userName), hash, attempt.ntResponse)) return { kind: 'reject', reason: 'Access-Reject' };
  const expected = generateAuthenticatorResponseFromHash(hash, attempt.ntResponse, attempt.peerChallenge, attempt.authenticatorChallenge, Buffer.from(attempt.userName));
  return { kind: 'accept', success: `${expected} M=Hello from RADIUS` };
}

function remoteBackend(fallback = false): Backend & { remote: boolean; localFallback: boolean; failures?: AuthFailureTracker } {
  return Object.assign(new Backend(), { remote: true, localFallback: fallback });
}

function answer(r: Run, verdict: RemoteVerdict): PppOutput[] {
  const outs = r.server.authComplete(verdict, r.now);
  deliver(r, outs);
  return outs;
}

describe('PPP authentication through a remote verifier', () => {
  it('the Response becomes one auth-request; the retransmitted Response is not asked about again; Accept sends RADIUS\'s MS-CHAP2-Success as is', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const r = connect({ user: 'alice', password: 'secret' }, remoteBackend(), pool);
    const asks = ofType(r.outputs, 'auth-request');
    expect(asks).toHaveLength(1);
    expect(r.server.authPending).toBe(true);
    expect(r.client.authOk).toBe(false);
    const attempt = asks[0]!.attempt;
    expect(attempt).toMatchObject({ method: 'mschapv2', userName: 'alice' });
    // the client resends its Response: nothing is sent and nothing asked
    const before = r.sent.length;
    pump(r, r.client.retransmit());
    expect(ofType(r.outputs, 'auth-request')).toHaveLength(1);
    expect(r.sent.length).toBe(before);
    answer(r, verifierAnswer(attempt, { alice: 'secret' }));
    expect(r.client.authOk).toBe(true);
    expect(r.client.mutualAuthOk).toBe(true); // the client verified the S= RADIUS computed
    const success = r.sent.find((f) => f.readUInt16BE(2) === 0xc223 && f[4] === 3)!;
    expect(success.subarray(8).toString('ascii')).toMatch(/^S=[0-9A-F]{40} M=Hello from RADIUS$/);
    expect(ofType(r.outputs, 'ip-up')).toEqual([{ type: 'ip-up', user: 'alice', address: '10.40.0.2' }]);
    // a late second answer changes nothing
    expect(r.server.authComplete({ kind: 'reject', reason: 'late' }, r.now).filter((o) => o.type !== 'log')).toEqual([]);
  });

  it('a Reject is the normal Failure (E=691 R=1), counted by the backoff; the retry is asked again', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const backend = remoteBackend();
    backend.failures = new AuthFailureTracker();
    const r = connect({ user: 'alice', password: 'wrong', retryPasswords: ['secret'] }, backend, pool);
    const first = ofType(r.outputs, 'auth-request')[0]!.attempt;
    const verdict = verifierAnswer(first, { alice: 'secret' });
    expect(verdict.kind).toBe('reject');
    answer(r, { kind: 'reject', reason: 'Access-Reject from radius-1' });
    expect(r.client.authFailures[0]).toMatch(/^E=691 R=1 C=[0-9A-F]{32} V=3 M=Authentication failed, try again$/);
    expect(ofType(r.outputs, 'auth-failure')[0]).toMatchObject({ user: 'alice', reason: expect.stringContaining('Access-Reject from radius-1') });
    expect(backend.failures.failures({ user: 'alice' }, r.now)).toBe(1);
    // the client retried with the right password against the new challenge: asked again
    const asks = ofType(r.outputs, 'auth-request');
    expect(asks).toHaveLength(2);
    answer(r, verifierAnswer(asks[1]!.attempt, { alice: 'secret' }));
    expect(r.client.authOk).toBe(true);
  });

  it('no verifier reachable: Failure without fallback (not counted as a wrong password); with fallback the users file decides', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const backend = remoteBackend();
    backend.failures = new AuthFailureTracker();
    backend.add('alice', 'secret');
    const r = connect({ user: 'alice', password: 'secret' }, backend, pool);
    answer(r, { kind: 'unavailable', reason: 'no RADIUS server answered (a, b)' });
    expect(r.client.authOk).toBe(false);
    expect(r.client.authFailures).toHaveLength(1);
    expect(backend.failures.failures({ user: 'alice' }, r.now)).toBe(0);

    const fb = remoteBackend(true).add('alice', 'secret');
    const r2 = connect({ user: 'alice', password: 'secret' }, fb, new AddressPool('10.40.0.0/24'));
    answer(r2, { kind: 'unavailable', reason: 'no RADIUS server answered' });
    expect(r2.client.authOk).toBe(true);
    expect(r2.client.mutualAuthOk).toBe(true);
    expect(r2.outputs.some((o) => o.type === 'log' && o.event === 'ppp.auth.local-fallback')).toBe(true);
    // fallback with a wrong password still fails
    const r3 = connect({ user: 'alice', password: 'nope' }, remoteBackend(true).add('alice', 'secret'), new AddressPool('10.40.0.0/24'));
    answer(r3, { kind: 'unavailable', reason: 'down' });
    expect(r3.client.authOk).toBe(false);
  });

  it('Framed-IP-Address is the client\'s address; Session-Timeout ends the session; Idle-Timeout replaces ours', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const r = connect({ user: 'alice', password: 'secret' }, remoteBackend(), pool, config({ idleTimeout: 3600 }));
    const attempt = ofType(r.outputs, 'auth-request')[0]!.attempt;
    const v = verifierAnswer(attempt, { alice: 'secret' });
    answer(r, { ...v, grant: { address: '10.40.0.77', sessionTimeout: 60, idleTimeout: 3000 } } as RemoteVerdict);
    expect(r.client.address).toBe('10.40.0.77');
    expect(ofType(r.outputs, 'ip-up')).toEqual([{ type: 'ip-up', user: 'alice', address: '10.40.0.77' }]);
    // traffic every 20 s keeps Idle-Timeout away; Session-Timeout (60 s) ends it anyway
    const start = r.now;
    for (let t = 20_000; t <= 50_000; t += 20_000) {
      runTimers(r, start + t);
      r.server.receive(Buffer.concat([Buffer.from([0xff, 0x03, 0x00, 0x21]), Buffer.from('4500001c000000004001000010284d02080808080800f7ff00000000', 'hex')]), r.now);
    }
    expect(r.client.terminated).toBe(false);
    runTimers(r, start + 61_000);
    expect(r.outputs.some((o) => o.type === 'log' && o.event === 'ppp.session-timeout')).toBe(true);
    runTimers(r, start + 120_000);
    expect(ofType(r.outputs, 'closed')[0]?.reason).toBe('session timeout');

    // Idle-Timeout 5 s (ours is an hour)
    const r2 = connect({ user: 'alice', password: 'secret' }, remoteBackend(), new AddressPool('10.40.0.0/24'), config({ idleTimeout: 3600 }));
    answer(r2, { ...verifierAnswer(ofType(r2.outputs, 'auth-request')[0]!.attempt, { alice: 'secret' }), grant: { idleTimeout: 5 } } as RemoteVerdict);
    expect(r2.client.ipcpOpened).toBe(true);
    runTimers(r2, r2.now + 30_000);
    expect(ofType(r2.outputs, 'closed')[0]?.reason).toBe('idle timeout');
  });

  it('a Framed-IP-Address in use (or outside the pool) is refused: the session closes as an address conflict', () => {
    const pool = new AddressPool('10.40.0.0/24');
    expect(pool.reserve('10.40.0.77', 'bob')).toBe(true);
    for (const address of ['10.40.0.77', '192.0.2.9']) {
      const r = connect({ user: 'alice', password: 'secret' }, remoteBackend(), pool);
      answer(r, { ...verifierAnswer(ofType(r.outputs, 'auth-request')[0]!.attempt, { alice: 'secret' }), grant: { address } } as RemoteVerdict);
      runTimers(r, r.now + 60_000);
      expect(ofType(r.outputs, 'ip-up')).toEqual([]);
      expect(ofType(r.outputs, 'closed')[0]?.reason).toMatch(/^address conflict: /);
      expect(pool.owner('10.40.0.77')).toBe('bob');
    }
  });

  it('the link going down while the verifier decides: closed, and the late answer is ignored', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const r = connect({ user: 'alice', password: 'secret' }, remoteBackend(), pool);
    const attempt = ofType(r.outputs, 'auth-request')[0]!.attempt;
    deliver(r, r.server.lowerDown('l2tp session gone', r.now));
    expect(ofType(r.outputs, 'closed')).toHaveLength(1);
    const late = r.server.authComplete(verifierAnswer(attempt, { alice: 'secret' }), r.now);
    expect(late.filter((o) => o.type === 'send' || o.type === 'ip-up' || o.type === 'auth-success')).toEqual([]);
    expect(pool.size - pool.free).toBe(0);
  });

  it('PAP goes to the verifier too, with the password; a retransmitted request is not asked again', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const s = new PppSession(config({ authProtocols: ['pap'] }), remoteBackend(), pool, 0);
    const req = byProto(s.start(0), 0xc021, 1)[0]!;
    expect(req.subarray(8).toString('hex')).toContain('0304c023');
    s.receive(frame(0xc021, 2, req[5]!, req.subarray(8)), 0);
    s.receive(frame(0xc021, 1, 1, []), 0);
    // RFC 1334 §2.2.1 Authenticate-Request: Peer-ID Length, Peer-Id, Passwd-Length, Password
    const pap = frame(0xc023, 1, 9, [5, ...Buffer.from('alice'), 6, ...Buffer.from('secret')]);
    const outs = [...s.receive(pap, 0), ...s.receive(pap, 10)];
    expect(ofType(outs, 'auth-request').map((a) => a.attempt)).toEqual([{ method: 'pap', userName: 'alice', password: Buffer.from('secret') }]);
    expect(byProto(outs, 0xc023)).toEqual([]);
    const done = s.authComplete({ kind: 'accept', grant: { address: '10.40.0.9' } }, 20);
    expect(byProto(done, 0xc023, 2)).toHaveLength(1); // Authenticate-Ack
    expect(ofType(done, 'auth-success')).toEqual([{ type: 'auth-success', user: 'alice' }]);
    // a Reject on the next try is a Nak
    const s2 = new PppSession(config({ authProtocols: ['pap'] }), remoteBackend(), new AddressPool('10.40.0.0/24'), 0);
    const q = byProto(s2.start(0), 0xc021, 1)[0]!;
    s2.receive(frame(0xc021, 2, q[5]!, q.subarray(8)), 0);
    s2.receive(frame(0xc021, 1, 1, []), 0);
    s2.receive(pap, 0);
    expect(byProto(s2.authComplete({ kind: 'reject', reason: 'Access-Reject' }, 1), 0xc023, 3)).toHaveLength(1);
  });
});

function byProto(outs: PppOutput[], proto: number, code?: number): Buffer[] {
  return outs.flatMap((o) => (o.type === 'send' && o.frame.readUInt16BE(2) === proto && (code === undefined || o.frame[4] === code) ? [o.frame] : []));
}
