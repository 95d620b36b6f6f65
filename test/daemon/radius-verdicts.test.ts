import { describe, expect, it } from 'vitest';
import { attr } from '../../src/radius/index.js';
import { eapVerdict, pppVerdict } from '../../src/daemon/radius-verdicts.js';

const pap = { method: 'pap' as const, userName: 'alice', password: Buffer.from('x') };
const ms = { userName: 'alice', ident: 7, authenticatorChallenge: Buffer.alloc(16), peerChallenge: Buffer.alloc(16), ntResponse: Buffer.alloc(24) };
const success = (ident: number): Buffer => Buffer.concat([Buffer.from([ident]), Buffer.from(`S=${'A'.repeat(40)} M=ok`)]);

describe('RADIUS results read into login verdicts', () => {
  it('PAP: an Accept grants its address (not the "NAS picks" value), timeouts, Class and interim; a Reject refuses; no answer is unavailable', () => {
    const ok = pppVerdict(pap, {
      kind: 'accept',
      code: 2,
      server: 's',
      attributes: [attr('Framed-IP-Address', '10.40.0.9'), attr('Session-Timeout', 60), attr('Idle-Timeout', 30), attr('Class', Buffer.from('c1')), attr('Acct-Interim-Interval', 300)],
    });
    expect(ok.verdict).toEqual({ kind: 'accept', grant: { address: '10.40.0.9', sessionTimeout: 60, idleTimeout: 30 } });
    expect(ok.granted).toEqual({ classes: [Buffer.from('c1')], authentic: 'radius', interim: 300 });
    expect(pppVerdict(pap, { kind: 'accept', code: 2, server: 's', attributes: [attr('Framed-IP-Address', '255.255.255.254')] }).verdict).toEqual({ kind: 'accept', grant: {} });
    expect(pppVerdict(pap, { kind: 'reject', code: 3, server: 's', attributes: [] }).verdict).toEqual({ kind: 'reject', reason: 'Access-Reject from s' });
    expect(pppVerdict(pap, { kind: 'timeout', servers: ['a', 'b'] }).verdict).toEqual({ kind: 'unavailable', reason: 'no RADIUS server answered (a, b)' });
    expect(pppVerdict(pap, { kind: 'overload' }).verdict.kind).toBe('unavailable');
    expect(pppVerdict(pap, { kind: 'invalid', reason: 'User-Name too long' }).verdict).toEqual({ kind: 'reject', reason: 'User-Name too long' });
  });

  it('EAP: the MSK is receive key | send key | 32 zeros; an Accept without MPPE keys is refused', () => {
    const send = Buffer.alloc(16, 0x53);
    const recv = Buffer.alloc(16, 0x52);
    const v = eapVerdict(ms, { kind: 'accept', code: 2, server: 's', attributes: [attr('MS-CHAP2-Success', success(7)), attr('MS-MPPE-Send-Key', send), attr('MS-MPPE-Recv-Key', recv)] });
    expect(v.verdict.kind).toBe('accept');
    if (v.verdict.kind !== 'accept') return;
    expect(v.verdict.msk).toEqual(Buffer.concat([recv, send, Buffer.alloc(32)]));
    expect(v.verdict.success).toBe(`S=${'A'.repeat(40)} M=ok`);
    expect([v.verdict.sessionTimeout, v.verdict.idleTimeout]).toEqual([undefined, undefined]);
    // Session-Timeout and Idle-Timeout go to the IKEv2 session as they go to PPP's
    const timed = eapVerdict(ms, {
      kind: 'accept',
      code: 2,
      server: 's',
      attributes: [attr('MS-CHAP2-Success', success(7)), attr('MS-MPPE-Send-Key', send), attr('MS-MPPE-Recv-Key', recv), attr('Session-Timeout', 600), attr('Idle-Timeout', 45), attr('Framed-IP-Address', '10.40.0.9')],
    });
    expect(timed.verdict).toMatchObject({ kind: 'accept', sessionTimeout: 600, idleTimeout: 45, address: '10.40.0.9' });
    const noKeys = eapVerdict(ms, { kind: 'accept', code: 2, server: 's', attributes: [attr('MS-CHAP2-Success', success(7))] });
    expect(noKeys.verdict).toEqual({ kind: 'reject', reason: 'Access-Accept from s without MS-MPPE keys (the EAP MSK)' });
    expect(eapVerdict(ms, { kind: 'timeout', servers: ['a'] }).verdict.kind).toBe('unavailable');
  });
});
