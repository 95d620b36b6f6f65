/**
 * Replies FreeRADIUS 3.2.1 (Debian 12) produced, recorded once with test/radius/freeradius.ts
 * (secret "testing123-l2tpsec", user alice / "correct horse battery", the README's
 * Message-Authenticator line), so the checks run where FreeRADIUS is not installed.
 * Request: Identifier 42, Request Authenticator 20..2f, MS-CHAP-Challenge 00..0f,
 * Peer-Challenge 10..1f, Ident 5.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateAuthenticatorResponse, generateNTResponse, hashNtPasswordHash, ntPasswordHash } from '../../src/ppp/mschapv2.js';
import { decodeAttributes, encodeAttributes, getInteger, getOctets, getText } from '../../src/radius/attributes.js';
import { signAccessRequest, verifyAccessRequest, verifyResponse } from '../../src/radius/crypto.js';
import { msChapV2AccessRequest, parseMsChapV2Result } from '../../src/radius/mschapv2.js';
import { decodePacket } from '../../src/radius/packet.js';

const SECRET = Buffer.from('testing123-l2tpsec');
const PASSWORD = 'correct horse battery';
const AC = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const PC = Buffer.from('101112131415161718191a1b1c1d1e1f', 'hex');
const RA = Buffer.from('202122232425262728292a2b2c2d2e2f', 'hex');

const REQUEST_OK = Buffer.from(
  '012a009b202122232425262728292a2b2c2d2e2f501268cf2a1a2a7b5b2ad36f1089e582c05f0107616c6963651a18000001370b12000102030405060708090a0b0c0d0e0f1a3a0000013719340500101112131415161718191a1b1c1d1e1f0000000000000000eff7fc824d4eb4eb4674c1d90ee0a29545b841c13bfb779b200a76706e2d746573743d0600000005060600000002070600000001',
  'hex',
);
const ACCEPT = Buffer.from(
  '022a00d49c7d6e78a60466a65bb485ca221cfe995012144d08c0a694b18b89c16474d2b0b55808060a4d000919096c3274707365631a33000001371a2d05533d314131323233314235333038363741413031344542383637433944353334434542444639434441381a2a00000137112485eb6e8d371fa0b2bf2d6dfba99f543485fd63ce4c342aae23d5ab077f293f2beb551a2a0000013710248f174c4be328c16aa0e5244a4cd66f5c3dd2c62aabfddf7e0851d0138e65cf7511501a0c000001370706000000011a0c00000137080600000006',
  'hex',
);
const REJECT = Buffer.from(
  '032a00888fc42f63ac29f0bc0016da7be4caf48950124e9ea3bbbf235bbac57d4a429385357d08060a4d000919096c3274707365631a5300000137024d05453d36393120523d3120433d376566626630336530666561636233376562623262656333626531616534333620563d33204d3d41757468656e7469636174696f6e2072656a6563746564',
  'hex',
);

describe('replies recorded from FreeRADIUS 3.2.1', () => {
  it('our Access-Request encodes to the recorded octets (the same attributes, Message-Authenticator first)', () => {
    const nt = generateNTResponse(AC, PC, 'alice', PASSWORD);
    const req = msChapV2AccessRequest({ userName: 'alice', ident: 5, authenticatorChallenge: AC, peerChallenge: PC, ntResponse: nt }, { nasIdentifier: 'vpn-test' });
    expect(signAccessRequest({ code: 1, identifier: 42, authenticator: RA, attributes: encodeAttributes(req.attributes) }, SECRET)).toEqual(REQUEST_OK);
    expect(verifyAccessRequest(REQUEST_OK, SECRET)).toBe('valid');
  });

  it('Access-Accept: Response Authenticator and Message-Authenticator check; MS-CHAP2-Success and the MPPE keys are what RFC 2759 and RFC 3079 give', () => {
    expect(verifyResponse(ACCEPT, RA, SECRET)).toEqual({ authenticator: true, messageAuthenticator: 'valid' });
    expect(verifyResponse(ACCEPT, RA, Buffer.from('testing123-l2tpsex'))).toEqual({ authenticator: false, messageAuthenticator: 'invalid' });
    const p = decodePacket(ACCEPT);
    const attrs = decodeAttributes(p.attributes, { secret: SECRET, authenticator: RA });
    const nt = generateNTResponse(AC, PC, 'alice', PASSWORD);
    const g = parseMsChapV2Result({ kind: 'accept', code: 2, attributes: attrs, server: 'fr' }, 5);
    expect(g.ok && g.success).toBe(generateAuthenticatorResponse(PASSWORD, nt, PC, AC, 'alice'));
    const master = createHash('sha1').update(hashNtPasswordHash(ntPasswordHash(PASSWORD))).update(nt).update('This is the MPPE Master Key').digest().subarray(0, 16);
    const key = (magic: string): string =>
      createHash('sha1').update(master).update(Buffer.alloc(40, 0)).update(magic).update(Buffer.alloc(40, 0xf2)).digest().subarray(0, 16).toString('hex');
    expect(g.ok && g.sendKey?.toString('hex')).toBe(key('On the client side, this is the receive key; on the server side, it is the send key.'));
    expect(g.ok && g.recvKey?.toString('hex')).toBe(key('On the client side, this is the send key; on the server side, it is the receive key.'));
    expect(g.ok && g.framedIpAddress).toBe('10.77.0.9');
    expect(g.ok && g.classes.map((c) => c.toString())).toEqual(['l2tpsec']);
    expect(getInteger(attrs, 'MS-MPPE-Encryption-Policy')).toBe(1);
    expect(getInteger(attrs, 'MS-MPPE-Encryption-Types')).toBe(6);
    // the keys are salt-encrypted on the wire: without the context they are 34 opaque octets
    expect(getOctets(decodeAttributes(p.attributes), 'MS-MPPE-Send-Key')!.length).toBe(34);
  });

  it('Access-Reject: authenticators check; MS-CHAP-Error is E=691 R=1 with a new challenge', () => {
    expect(verifyResponse(REJECT, RA, SECRET)).toEqual({ authenticator: true, messageAuthenticator: 'valid' });
    const attrs = decodeAttributes(decodePacket(REJECT).attributes);
    const r = parseMsChapV2Result({ kind: 'reject', code: 3, attributes: attrs, server: 'fr' }, 5);
    expect(r).toMatchObject({ ok: false, rejected: true, errorCode: 691, retry: true });
    expect(!r.ok && r.error).toMatch(/^E=691 R=1 C=[0-9a-f]{32} V=3 M=Authentication rejected$/);
    expect(getText(attrs, 'Framed-IP-Address')).toBe('10.77.0.9');
  });
});
