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
import { World } from './harness.js';

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
function radius(a: EapRemoteAttempt, password: string, address?: string): EapVerdict {
  const hash = ntPasswordHash(password);
  const name = Buffer.from(a.userName);
  if (!verifyNTResponse(a.authenticatorChallenge, a.peerChallenge, name, hash, a.ntResponse)) return { kind: 'reject', reason: 'Access-Reject' };
  return {
    kind: 'accept',
    success: `${generateAuthenticatorResponseFromHash(hash, a.ntResponse, a.peerChallenge, a.authenticatorChallenge, name)} M=ok`,
    msk: eapMschapv2Msk(hashNtPasswordHash(hash), a.ntResponse),
    ...(address ? { address } : {}),
  };
}

function world(port: Port): World {
  return new World(
    { remoteAuth: port, ikev2: { certificates: [Buffer.from('certificate')], privateKey: key.privateKey, localId: { idType: 2, data: Buffer.from('vpn.example.net') } } },
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
});
