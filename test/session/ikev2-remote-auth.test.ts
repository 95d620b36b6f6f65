import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../../src/core/sa.js';
import { eapMschapv2Msk } from '../../src/core/mschap/mppe.js';
import { generateAuthenticatorResponseFromHash, hashNtPasswordHash, ntPasswordHash, verifyNTResponse } from '../../src/core/mschap/mschapv2.js';
import { CfgType, DhGroup, Encr, Integ, PayloadType, Prf } from '../../src/ikev2/wire/constants.js';
import { findPayload, type PayloadChain } from '../../src/ikev2/wire/message.js';
import type { EapRemoteAttempt, EapVerdict, RemoteAuthPort, SessionHandle } from '../../src/session/index.js';
import { AuthClient, espProposal } from '../ikev2/auth-client.js';
import { ikeProposal, TestInitiator } from '../ikev2/initiator.js';
import { ACCT_TERMINATE_CAUSE, terminateCause } from '../../src/radius/index.js';
import { INTERNET, World, ipv4 } from './harness.js';

const SERVER: Endpoint = { address: '198.51.100.1', port: 500 };
const SERVER4500: Endpoint = { address: '198.51.100.1', port: 4500 };
const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

class Port implements RemoteAuthPort {
  readonly eap: Array<{ saId: string; attempt: EapRemoteAttempt; peer: Endpoint }> = [];
  readonly endedSas: string[] = [];
  constructor(readonly localFallback = false) {}
  request(_h: SessionHandle): void {
    throw new Error('no PPP here');
  }
  ended(): void {}
  requestEap(saId: string, attempt: EapRemoteAttempt, who: { peer: Endpoint }): void {
    this.eap.push({ saId, attempt, peer: who.peer });
  }
  endedEap(saId: string): void {
    this.endedSas.push(saId);
  }
}

/** RADIUS's part: it holds the password, checks the NT-Response, computes MS-CHAP2-Success and the MPPE keys (the MSK). */
function radius(a: EapRemoteAttempt, password: string, address?: string, timers: { sessionTimeout?: number; idleTimeout?: number } = {}): EapVerdict {
  const hash = ntPasswordHash(password);
  const name = Buffer.from(a.userName);
  if (!verifyNTResponse(a.authenticatorChallenge, a.peerChallenge, name, hash, a.ntResponse)) return { kind: 'reject', reason: 'Access-Reject' };
  return {
    kind: 'accept',
    success: `${generateAuthenticatorResponseFromHash(hash, a.ntResponse, a.peerChallenge, a.authenticatorChallenge, name)} M=ok`,
    msk: eapMschapv2Msk(hashNtPasswordHash(hash), a.ntResponse),
    ...(address ? { address } : {}),
    ...timers,
  };
}

/** A whole login whose MS-CHAPv2 Response RADIUS accepts with `timers`; the client, to watch what the server sends it. */
function loginWith(w: World, port: Port, user: string, timers: { sessionTimeout?: number; idleTimeout?: number }, at: Endpoint): { at4500: Endpoint } {
  const { c, at4500, response } = upToResponse(w, user, 'radius password', at);
  w.ikeFrom(at4500, SERVER4500, response);
  const ask = port.eap[port.eap.length - 1]!;
  w.pipeline.eapResult(ask.saId, radius(ask.attempt, 'radius password', undefined, timers), w.now);
  const ack = c.eapAnswer(c.open(w.takeIke(at4500)));
  c.open(w.ikeFrom(at4500, SERVER4500, c.request(ack)[0]!));
  expect(findPayload(c.open(w.ikeFrom(at4500, SERVER4500, c.request(c.finalAuth())[0]!)), PayloadType.CP)).toBeDefined();
  return { at4500 };
}

function world(port: Port, idleTimeout = 0): World {
  return new World(
    { remoteAuth: port, idleTimeout, ikev2: { certificates: [Buffer.from('certificate')], privateKey: key.privateKey, localId: { idType: 2, data: Buffer.from('vpn.example.net') } } },
    [['alice', 'users-file password']],
  );
}

/** IKE_SA_INIT and IKE_AUTH up to the MS-CHAPv2 Response, which the server hands to RADIUS. */
function upToResponse(w: World, user: string, password: string, at: Endpoint = { address: '203.0.113.9', port: 500 }): { c: AuthClient; at4500: Endpoint; response: Buffer } {
  const at4500 = { address: at.address, port: 4500 };
  const i = new TestInitiator({ proposals: [ikeProposal(1, { encr: [[Encr.AES_CBC, 256]], integ: [Integ.HMAC_SHA2_256_128], prf: [Prf.HMAC_SHA2_256], dh: [DhGroup.ECP256] })], keGroup: DhGroup.ECP256, local: at, remote: SERVER });
  i.handle(w.ikeFrom(at, SERVER, i.request())[0]!);
  const c = new AuthClient(i, user, password);
  const rt = (p: Parameters<AuthClient['request']>[0]): PayloadChain => c.open(w.ikeFrom(at4500, SERVER4500, c.request(p)[0]!));
  let chain = rt(c.firstPayloads(espProposal(Encr.AES_CBC, 256, Integ.HMAC_SHA2_256_128)));
  chain = rt(c.eapAnswer(chain)); // Identity → Challenge
  return { c, at4500, response: c.request(c.eapAnswer(chain))[0]! };
}

describe('IKEv2 EAP-MSCHAPv2 through a remote verifier (RADIUS port)', () => {
  it('the Response waits for RADIUS (its retransmission is not asked again); the answer completes the login with RADIUS\'s MSK and address', () => {
    const port = new Port();
    const w = world(port);
    const { c, at4500, response } = upToResponse(w, 'carol', 'radius password');
    expect(w.ikeFrom(at4500, SERVER4500, response)).toEqual([]);
    expect(w.ikeFrom(at4500, SERVER4500, response)).toEqual([]); // the client's retransmission
    expect(port.eap).toHaveLength(1);
    const ask = port.eap[0]!;
    expect(ask.attempt.userName).toBe('carol');
    expect(ask.peer).toEqual(at4500);
    w.pipeline.eapResult(ask.saId, radius(ask.attempt, 'radius password', '10.40.0.150'), w.now);
    const success = c.open(w.takeIke(at4500));
    const ack = c.eapAnswer(success); // throws unless the S= is RADIUS's and matches the password
    const eapSuccess = c.open(w.ikeFrom(at4500, SERVER4500, c.request(ack)[0]!));
    expect(findPayload(eapSuccess, PayloadType.EAP)).toBeDefined();
    const last = c.open(w.ikeFrom(at4500, SERVER4500, c.request(c.finalAuth())[0]!));
    const cp = findPayload(last, PayloadType.CP)?.value;
    expect(cp?.cfgType).toBe(CfgType.CFG_REPLY);
    expect([...cp!.attributes.find((a) => a.type === 1)!.value].join('.')).toBe('10.40.0.150');
    const [s] = w.pipeline.sessions(w.now);
    expect([s!.rec.kind, s!.rec.user, s!.rec.address]).toEqual(['ikev2', 'carol', '10.40.0.150']);
  });

  it('a Reject ends with EAP-Failure; an SA that goes away while RADIUS decides tells the port, and the late answer does nothing', () => {
    const port = new Port();
    const w = world(port);
    const a = upToResponse(w, 'carol', 'wrong');
    w.ikeFrom(a.at4500, SERVER4500, a.response);
    w.pipeline.eapResult(port.eap[0]!.saId, radius(port.eap[0]!.attempt, 'radius password'), w.now);
    const failure = a.c.open(w.takeIke(a.at4500));
    expect(() => a.c.eapAnswer(failure)).not.toThrow(); // an MS-CHAPv2 Failure request
    expect(w.pipeline.counters.snapshot()['ikev2.auth.failed'] ?? 0).toBe(0); // not yet: after the Failure's ack
    // a second login half-way: the half-open SA expires while RADIUS is silent
    const b = upToResponse(w, 'dave', 'x', { address: '203.0.113.20', port: 500 });
    w.ikeFrom(b.at4500, SERVER4500, b.response);
    const saId = port.eap[1]!.saId;
    w.advance(120_000);
    expect(port.endedSas).toContain(saId);
    w.pipeline.eapResult(saId, radius(port.eap[1]!.attempt, 'x'), w.now);
    expect(w.takeIke(b.at4500)).toEqual([]);
    expect(w.pipeline.table.size).toBe(0);
    expect(w.logs.filter((l) => l.event.includes('internal'))).toEqual([]);
  });

  it('no RADIUS server: EAP-Failure, or the users file with fallback on', () => {
    const off = new Port(false);
    const w = world(off);
    const a = upToResponse(w, 'alice', 'users-file password');
    w.ikeFrom(a.at4500, SERVER4500, a.response);
    w.pipeline.eapResult(off.eap[0]!.saId, { kind: 'unavailable', reason: 'no RADIUS server answered' }, w.now);
    expect(() => a.c.eapAnswer(a.c.open(w.takeIke(a.at4500)))).not.toThrow();
    expect(w.pipeline.table.size).toBe(0);
    const on = new Port(true);
    const w2 = world(on);
    const b = upToResponse(w2, 'alice', 'users-file password');
    w2.ikeFrom(b.at4500, SERVER4500, b.response);
    w2.pipeline.eapResult(on.eap[0]!.saId, { kind: 'unavailable', reason: 'no RADIUS server answered' }, w2.now);
    const ack = b.c.eapAnswer(b.c.open(w2.takeIke(b.at4500))); // the Success of the users file's check
    b.c.open(w2.ikeFrom(b.at4500, SERVER4500, b.c.request(ack)[0]!));
    const last = b.c.open(w2.ikeFrom(b.at4500, SERVER4500, b.c.request(b.c.finalAuth())[0]!));
    expect(findPayload(last, PayloadType.CP)).toBeDefined();
    expect(w2.pipeline.table.list().map((r) => r.user)).toEqual(['alice']);
  });

  it('RADIUS\'s Session-Timeout ends the session on time with the IKE SA\'s Delete and `session timeout` (Acct-Terminate-Cause Session-Timeout); its Idle-Timeout replaces ppp.idle_timeout for that session only', () => {
    const port = new Port();
    const w = world(port, 600); // ppp.idle_timeout 600 s for everyone RADIUS gives none
    const deletes = new Map<string, number[]>();
    const tap = (name: string, to: Endpoint): void => {
      deletes.set(name, []);
      w.ikeTaps.push({ to, fn: () => deletes.get(name)!.push(w.now) });
    };
    const t0 = w.now;
    const carol = loginWith(w, port, 'carol', { sessionTimeout: 300 }, { address: '203.0.113.30', port: 500 });
    const dave = loginWith(w, port, 'dave', { idleTimeout: 30 }, { address: '203.0.113.31', port: 500 });
    const erin = loginWith(w, port, 'erin', {}, { address: '203.0.113.32', port: 500 });
    tap('carol', carol.at4500);
    tap('dave', dave.at4500);
    tap('erin', erin.at4500);
    const up = w.now;
    expect(up - t0).toBeLessThan(1000);
    const addressOf = (user: string): string => w.pipeline.table.list().find((r) => r.user === user)!.address!;
    const carolIp = addressOf('carol');
    // traffic to carol every 20 s: her idle timeout (600 s, ours) never comes near; Session-Timeout (300 s) ends her anyway
    for (let t = 20_000; t < 300_000; t += 20_000) {
      w.advance(20_000);
      w.pipeline.tunPackets([ipv4(INTERNET, carolIp, Buffer.from('down'))], w.now);
      w.pump();
    }
    // dave was silent: RADIUS's 30 s idle timeout ended him, not ours (600 s)
    expect(deletes.get('dave')![0]).toBe(up + 30_000);
    expect(w.logged('ikev2.idle-timeout').map((l) => l.fields?.['user'])).toEqual(['dave']);
    expect(deletes.get('carol')).toEqual([]);
    w.advance(300_000 - (w.now - up) - 1);
    expect(deletes.get('carol')).toEqual([]);
    w.advance(2);
    expect(deletes.get('carol')![0]).toBe(up + 300_000);
    expect(w.logged('ikev2.session-timeout').map((l) => [l.fields?.['user'], l.fields?.['seconds']])).toEqual([['carol', 300]]);
    w.advance(60_000); // the Delete unanswered: retransmitted, then the SA and session are gone
    const reasons = Object.fromEntries(w.ended.map((e) => [e.user, e.reason]));
    expect(reasons).toEqual({ dave: 'idle timeout', carol: 'session timeout' });
    expect(terminateCause(reasons['carol']!)).toBe(ACCT_TERMINATE_CAUSE.SessionTimeout);
    expect(terminateCause(reasons['dave']!)).toBe(ACCT_TERMINATE_CAUSE.IdleTimeout);
    // erin (no RADIUS timers) lives by ppp.idle_timeout: 600 s of silence after she came up
    expect(deletes.get('erin')).toEqual([]);
    w.advance(600_000 - (w.now - up) + 1);
    expect(deletes.get('erin')![0]).toBe(up + 600_000);
  });
});
