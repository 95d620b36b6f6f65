import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateAuthenticatorResponse, generateNTResponse, stripDomain, verifyNTResponse, ntPasswordHash } from '../../src/ppp/mschapv2.js';
import { accountingInterim, accountingStart, accountingStop, newAcctSessionId, terminateCause } from '../../src/radius/accounting.js';
import { attr, decodeAttributes, getAll, getInteger, getOctets, getText, type Attribute } from '../../src/radius/attributes.js';
import { RadiusClient, type RadiusOutput, type RadiusResult } from '../../src/radius/client.js';
import { signResponse, verifyZeroAuthRequest } from '../../src/radius/crypto.js';
import { ACCT_TERMINATE_CAUSE, CODE } from '../../src/radius/dictionary.js';
import { msChapV2AccessRequest, parseMsChapV2Result } from '../../src/radius/mschapv2.js';
import { decodePacket, encodePacket } from '../../src/radius/packet.js';
import { encodeAttributes } from '../../src/radius/attributes.js';

const NAS = { nasIdentifier: 'vpn-1', nasIpAddress: '192.0.2.1', calledStationId: '192.0.2.1:4500' };
const AUTH_CHALLENGE = Buffer.from('5B5D7C7D7B3F2F3E3C2C602132262628', 'hex'); // RFC 2759 §9.2
const PEER_CHALLENGE = Buffer.from('21402324255E262A28295F2B3A337C7E', 'hex');
const USER = 'User';
const PASSWORD = 'clientPass';

describe('MS-CHAPv2 Access-Request', () => {
  it('carries every attribute of the issue, MS-CHAP2-Response in the RFC 2548 §2.3.2 layout, and a server can verify the NT-Response from it', () => {
    const nt = generateNTResponse(AUTH_CHALLENGE, PEER_CHALLENGE, USER, PASSWORD);
    // RFC 2759 §9.2's NT-Response for these inputs
    expect(nt.toString('hex').toUpperCase()).toBe('82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF');
    const req = msChapV2AccessRequest(
      { userName: `DOM\\${USER}`, ident: 0x42, authenticatorChallenge: AUTH_CHALLENGE, peerChallenge: PEER_CHALLENGE, ntResponse: nt, callingStationId: '198.51.100.7:4500', nasPort: 3 },
      NAS,
    );
    expect(req.code).toBe(CODE.AccessRequest);
    expect(req.attributes.map((a) => a.name)).toEqual([
      'User-Name',
      'MS-CHAP-Challenge',
      'MS-CHAP2-Response',
      'NAS-Identifier',
      'NAS-IP-Address',
      'NAS-Port-Type',
      'Called-Station-Id',
      'Service-Type',
      'Framed-Protocol',
      'Calling-Station-Id',
      'NAS-Port',
    ]);
    // through the wire and back, as a server sees it
    const wire = encodePacket({ code: 1, identifier: 0, authenticator: Buffer.alloc(16), attributes: encodeAttributes(req.attributes) });
    const seen = decodeAttributes(decodePacket(wire).attributes);
    expect(getInteger(seen, 'NAS-Port-Type')).toBe(5);
    expect(getInteger(seen, 'Service-Type')).toBe(2);
    expect(getInteger(seen, 'Framed-Protocol')).toBe(1);
    expect(getText(seen, 'Calling-Station-Id')).toBe('198.51.100.7:4500');
    const r = getOctets(seen, 'MS-CHAP2-Response')!;
    expect(r.length).toBe(50);
    expect(r[0]).toBe(0x42);
    expect(r[1]).toBe(0);
    expect(Buffer.from(r.subarray(18, 26))).toEqual(Buffer.alloc(8));
    const name = stripDomain(getText(seen, 'User-Name')!);
    expect(verifyNTResponse(getOctets(seen, 'MS-CHAP-Challenge')!, r.subarray(2, 18), name, ntPasswordHash(PASSWORD), r.subarray(26, 50))).toBe(true);
  });

  it('refuses challenges and responses of the wrong size', () => {
    const base = { userName: 'u', ident: 1, authenticatorChallenge: AUTH_CHALLENGE, peerChallenge: PEER_CHALLENGE, ntResponse: Buffer.alloc(24) };
    expect(() => msChapV2AccessRequest({ ...base, ntResponse: Buffer.alloc(23) }, NAS)).toThrow(RangeError);
    expect(() => msChapV2AccessRequest({ ...base, peerChallenge: Buffer.alloc(8) }, NAS)).toThrow(RangeError);
    expect(() => msChapV2AccessRequest({ ...base, authenticatorChallenge: Buffer.alloc(17) }, NAS)).toThrow(RangeError);
  });
});

describe('MS-CHAPv2 replies', () => {
  const S = generateAuthenticatorResponse(PASSWORD, generateNTResponse(AUTH_CHALLENGE, PEER_CHALLENGE, USER, PASSWORD), PEER_CHALLENGE, AUTH_CHALLENGE, USER);
  const accept = (attributes: Attribute[]): RadiusResult => ({ kind: 'accept', code: 2, attributes, server: 'r1' });

  it('an Access-Accept gives the Success string as is, the keys, address, timeouts, interim interval and every Class', () => {
    expect(S).toBe('S=407A5589115FD0D6209F510FE9C04566932CDA56'); // RFC 2759 §9.2
    const g = parseMsChapV2Result(
      accept([
        attr('MS-CHAP2-Success', Buffer.concat([Buffer.from([7]), Buffer.from(S)])),
        attr('MS-MPPE-Send-Key', Buffer.alloc(16, 1)),
        attr('MS-MPPE-Recv-Key', Buffer.alloc(16, 2)),
        attr('Framed-IP-Address', '10.0.0.9'),
        attr('Session-Timeout', 3600),
        attr('Idle-Timeout', 600),
        attr('Acct-Interim-Interval', 300),
        attr('Class', Buffer.from('c1')),
        attr('Class', Buffer.from('c2')),
      ]),
      7,
    );
    expect(g).toEqual({
      ok: true,
      success: S,
      sendKey: Buffer.alloc(16, 1),
      recvKey: Buffer.alloc(16, 2),
      framedIpAddress: '10.0.0.9',
      sessionTimeout: 3600,
      idleTimeout: 600,
      acctInterimInterval: 300,
      classes: [Buffer.from('c1'), Buffer.from('c2')],
    });
  });

  it('an Accept without MS-CHAP2-Success, for another Ident, or with a malformed one is refused (the peer could not check the server)', () => {
    expect(parseMsChapV2Result(accept([]), 7)).toMatchObject({ ok: false, rejected: true, reason: expect.stringMatching(/without MS-CHAP2-Success/) });
    expect(parseMsChapV2Result(accept([attr('MS-CHAP2-Success', Buffer.concat([Buffer.from([8]), Buffer.from(S)]))]), 7)).toMatchObject({ ok: false, reason: expect.stringMatching(/Ident 8/) });
    expect(parseMsChapV2Result(accept([attr('MS-CHAP2-Success', Buffer.from('\x07S=1234'))]), 7)).toMatchObject({ ok: false, reason: expect.stringMatching(/malformed/) });
    expect(parseMsChapV2Result(accept([attr('MS-CHAP2-Success', Buffer.from([7]))]), 7)).toMatchObject({ ok: false });
  });

  it('Framed-IP-Address 255.255.255.254 / .255 mean "NAS picks": no fixed address', () => {
    for (const ip of ['255.255.255.254', '255.255.255.255']) {
      const g = parseMsChapV2Result(accept([attr('MS-CHAP2-Success', Buffer.concat([Buffer.from([1]), Buffer.from(S)])), attr('Framed-IP-Address', ip)]), 1);
      expect(g.ok && g.framedIpAddress).toBeUndefined();
    }
  });

  it('an Access-Reject gives MS-CHAP-Error, its E= code and R= flag; a timeout is not a rejection', () => {
    const r = parseMsChapV2Result({ kind: 'reject', code: 3, attributes: [attr('MS-CHAP-Error', Buffer.from('\x07E=691 R=1 C=00112233445566778899AABBCCDDEEFF V=3 M=Authentication failed'))], server: 'r1' }, 7);
    expect(r).toMatchObject({ ok: false, rejected: true, errorCode: 691, retry: true, error: 'E=691 R=1 C=00112233445566778899AABBCCDDEEFF V=3 M=Authentication failed' });
    expect(parseMsChapV2Result({ kind: 'reject', code: 3, attributes: [], server: 'r1' }, 7)).toEqual({ ok: false, rejected: true, reason: 'Access-Reject from r1' });
    expect(parseMsChapV2Result({ kind: 'timeout', servers: ['a', 'b'] }, 7)).toEqual({ ok: false, rejected: false, reason: 'no RADIUS server answered (a, b)' });
  });
});

describe('accounting', () => {
  const session = { sessionId: 'ABC-1', userName: 'alice', framedIpAddress: '10.0.0.5', classes: [Buffer.from([1, 2, 3])], callingStationId: '198.51.100.7:4500' };
  const counters = { sessionTime: 61.9, inputOctets: 5 * 2 ** 32 + 7, outputOctets: 1000, inputPackets: 10, outputPackets: 12 };

  it('Start carries the session, the NAS, the Class echoed and Acct-Status-Type Start; no counters', () => {
    const a = accountingStart(session, NAS, 1_700_000_000_123).attributes;
    expect(getInteger(a, 'Acct-Status-Type')).toBe(1);
    expect(getText(a, 'Acct-Session-Id')).toBe('ABC-1');
    expect(getText(a, 'User-Name')).toBe('alice');
    expect(getText(a, 'Framed-IP-Address')).toBe('10.0.0.5');
    expect(getAll(a, 'Class')).toEqual([Buffer.from([1, 2, 3])]);
    expect(getInteger(a, 'Event-Timestamp')).toBe(1_700_000_000);
    expect(getInteger(a, 'Acct-Authentic')).toBe(1);
    expect(getText(a, 'NAS-Identifier')).toBe('vpn-1');
    expect(getInteger(a, 'Acct-Input-Octets')).toBeUndefined();
  });

  it('Interim-Update and Stop carry time, octets split into Gigawords, packets; Stop its Terminate-Cause', () => {
    const i = accountingInterim(session, NAS, counters).attributes;
    expect(getInteger(i, 'Acct-Status-Type')).toBe(3);
    const s = accountingStop(session, NAS, counters, ACCT_TERMINATE_CAUSE.IdleTimeout).attributes;
    expect(getInteger(s, 'Acct-Status-Type')).toBe(2);
    for (const a of [i, s]) {
      expect(getInteger(a, 'Acct-Session-Time')).toBe(61);
      expect(getInteger(a, 'Acct-Input-Octets')).toBe(7);
      expect(getInteger(a, 'Acct-Input-Gigawords')).toBe(5);
      expect(getInteger(a, 'Acct-Output-Octets')).toBe(1000);
      expect(getInteger(a, 'Acct-Output-Gigawords')).toBe(0);
      expect(getInteger(a, 'Acct-Input-Packets')).toBe(10);
      expect(getInteger(a, 'Acct-Output-Packets')).toBe(12);
    }
    expect(getInteger(s, 'Acct-Terminate-Cause')).toBe(4);
    // it encodes (every value fits its kind)
    expect(() => encodeAttributes(s)).not.toThrow();
  });

  it('our end reasons map to Acct-Terminate-Cause', () => {
    const cases: [string, number][] = [
      ['idle timeout', 4],
      ['admin disconnect', 6],
      ['shutdown', 7],
      ['server shutting down', 7],
      ['no LCP Echo-Reply to 5 Echo-Requests', 2],
      ['ipsec sa dpd', 2],
      ['LCP timeout: no answer to Configure-Request', 2],
      ['ipsec sa deleted by peer', 1],
      ['peer CDN: General request to clear (bye)', 1],
      ['peer StopCCN: result 1', 1],
      ['LCP finished', 1],
      ['authentication failed', 17],
      ['address pool exhausted', 9],
      ['address conflict', 9],
      ['something new', 10],
    ];
    expect(cases.map(([r]) => [r, terminateCause(r)])).toEqual(cases);
  });

  it('Acct-Session-Ids are 16 hex digits after the prefix and differ', () => {
    let n = 0;
    const random = (k: number): Buffer => createHash('sha256').update(String(n++)).digest().subarray(0, k);
    const a = newAcctSessionId(random, 'vpn-1');
    const b = newAcctSessionId(random, 'vpn-1');
    expect(a).toMatch(/^vpn-1-[0-9A-F]{16}$/);
    expect(a).not.toBe(b);
  });

  it('through the client an Accounting-Request is signed as RFC 2866 §3 says', () => {
    const c = new RadiusClient({ servers: [{ address: '127.0.0.1', secret: 's' }], random: (k) => Buffer.alloc(k, 1) });
    const out: RadiusOutput[] = c.request(accountingStop(session, NAS, counters, 1), 0).out;
    const send = out.find((o) => o.type === 'send');
    expect(send && send.type === 'send' && send.port).toBe(1813);
    expect(send && send.type === 'send' && verifyZeroAuthRequest(send.datagram, Buffer.from('s')).authenticator).toBe(true);
    // a signed Accounting-Response ends it
    const d = send && send.type === 'send' ? send.datagram : Buffer.alloc(0);
    const req = decodePacket(d);
    const resp = signResponse({ code: 5, identifier: req.identifier, authenticator: Buffer.alloc(16), attributes: [] }, req.authenticator, Buffer.from('s'));
    const r = c.receive(resp, { address: '127.0.0.1', port: 1813 }, 1);
    expect(r.find((o) => o.type === 'result')).toMatchObject({ result: { kind: 'accounted' } });
  });
});
