/** Child SA proposal choice (RFC 7296 §3.3), traffic selector narrowing (§2.9) and the configuration payload (§2.19). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { childReply, DEFAULT_CHILD_POLICY, selectChildProposal } from '../../src/ikev2/child-policy.js';
import { cpReply, cpWants } from '../../src/ikev2/cp-reply.js';
import { FULL_TUNNEL, narrowTrafficSelectors } from '../../src/ikev2/ts-narrow.js';
import { CfgType, ConfigAttr, Encr, Esn, Integ, TransformType } from '../../src/ikev2/wire/constants.js';
import { decodeCp, encodeCp } from '../../src/ikev2/wire/cp.js';
import { ipv4Range, type TrafficSelector } from '../../src/ikev2/wire/ts.js';
import type { Proposal, SaPayload } from '../../src/ikev2/wire/sa.js';
import { saArb } from './arbitraries.js';

const spi = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
};
function esp(number: number, s: { encr: [number, number?][]; integ?: number[]; esn?: number[]; dh?: number[] }, spiValue = 0xc0ffee01): Proposal {
  const t = (type: number, id: number, kl?: number) => ({ type, id, attributes: kl === undefined ? [] : [{ type: 14, tv: true as const, value: kl }] });
  return {
    number,
    protocolId: 3,
    spi: spi(spiValue),
    transforms: [
      ...s.encr.map(([id, kl]) => t(TransformType.ENCR, id, kl)),
      ...(s.integ ?? []).map((id) => t(TransformType.INTEG, id)),
      ...(s.dh ?? []).map((id) => t(TransformType.DH, id)),
      ...(s.esn ?? [Esn.NO_ESN]).map((id) => t(TransformType.ESN, id)),
    ],
  };
}
const sa = (...proposals: Proposal[]): SaPayload => ({ proposals });

describe('child SA proposals', () => {
  it('Windows (AES-256/SHA1, no PFS) and Apple (AES-256/SHA2-256): CBC with the integrity key size', () => {
    const win = selectChildProposal(sa(esp(1, { encr: [[Encr.AES_CBC, 256]], integ: [Integ.HMAC_SHA1_96] })), DEFAULT_CHILD_POLICY, 'ignore')!;
    expect(win.transform).toEqual({ cipher: 'aes-cbc', keyBits: 256, integ: 'hmac-sha1-96' });
    expect([win.encKeyBytes, win.integKeyBytes, win.peerSpi]).toEqual([32, 20, 0xc0ffee01]);
    const reply = childReply(win, 0x12345678);
    expect(reply.spi).toEqual(spi(0x12345678));
    expect(reply.transforms.map((t) => [t.type, t.id])).toEqual([[1, Encr.AES_CBC], [3, Integ.HMAC_SHA1_96], [5, Esn.NO_ESN]]);
    const apple = selectChildProposal(sa(esp(1, { encr: [[Encr.AES_CBC, 256]], integ: [Integ.HMAC_SHA1_96, Integ.HMAC_SHA2_256_128] })), DEFAULT_CHILD_POLICY, 'ignore')!;
    expect(apple.transform.integ).toBe('hmac-sha256-128');
  });
  it('AES-GCM-16: the key carries 4 bytes of salt, no integrity', () => {
    const c = selectChildProposal(sa(esp(1, { encr: [[Encr.AES_GCM_16, 128], [Encr.AES_GCM_16, 256]] })), DEFAULT_CHILD_POLICY, 'ignore')!;
    expect(c.transform).toEqual({ cipher: 'aes-gcm-16', keyBits: 256, integ: 'none' });
    expect([c.encKeyBytes, c.integKeyBytes]).toEqual([36, 0]);
  });
  it('DH: ignored in IKE_AUTH, required to match with PFS, refused without KE unless NONE is offered', () => {
    const withDh = sa(esp(1, { encr: [[Encr.AES_CBC, 128]], integ: [Integ.HMAC_SHA1_96], dh: [14] }));
    expect(selectChildProposal(withDh, DEFAULT_CHILD_POLICY, 'ignore')!.transforms.some((t) => t.type === TransformType.DH)).toBe(false);
    expect(selectChildProposal(withDh, DEFAULT_CHILD_POLICY, 14)!.dh).toBe(14);
    expect(selectChildProposal(withDh, DEFAULT_CHILD_POLICY, 19)).toBeUndefined();
    expect(selectChildProposal(withDh, DEFAULT_CHILD_POLICY, undefined)).toBeUndefined();
    expect(selectChildProposal(sa(esp(1, { encr: [[Encr.AES_CBC, 128]], integ: [Integ.HMAC_SHA1_96], dh: [0, 14] })), DEFAULT_CHILD_POLICY, undefined)!.dh).toBeUndefined();
  });
  it('refused: 3DES, DES, NULL, ESN only, an SPI below 256 or of 8 bytes, AH, GCM with integrity', () => {
    const bad = [
      esp(1, { encr: [[Encr['3DES']]], integ: [Integ.HMAC_SHA1_96] }),
      esp(1, { encr: [[Encr.DES]], integ: [Integ.HMAC_SHA1_96] }),
      esp(1, { encr: [[Encr.NULL]], integ: [Integ.HMAC_SHA1_96] }),
      esp(1, { encr: [[Encr.AES_CBC, 128]], integ: [Integ.HMAC_SHA1_96], esn: [Esn.ESN] }),
      esp(1, { encr: [[Encr.AES_CBC, 128]], integ: [Integ.HMAC_SHA1_96] }, 255),
      { ...esp(1, { encr: [[Encr.AES_CBC, 128]], integ: [Integ.HMAC_SHA1_96] }), spi: Buffer.alloc(8, 1) },
      { ...esp(1, { encr: [[Encr.AES_CBC, 128]], integ: [Integ.HMAC_SHA1_96] }), protocolId: 2 },
      esp(1, { encr: [[Encr.AES_GCM_16, 128]], integ: [Integ.HMAC_SHA1_96] }),
      esp(1, { encr: [[Encr.AES_CBC, 128]], integ: [Integ.AES_XCBC_96] }),
    ];
    for (const p of bad) expect(selectChildProposal(sa(p), DEFAULT_CHILD_POLICY, 'ignore')).toBeUndefined();
    // the first acceptable one of several
    expect(selectChildProposal(sa(...bad, esp(7, { encr: [[Encr.AES_CBC, 128]], integ: [Integ.HMAC_SHA1_96] })), DEFAULT_CHILD_POLICY, 'ignore')!.number).toBe(7);
  });
  it('property: any SA payload picks one or none, never throws', () => {
    fc.assert(
      fc.property(saArb, fc.constantFrom<number | 'ignore' | undefined>('ignore', undefined, 14), (s, pfs) => {
        const c = selectChildProposal(s, DEFAULT_CHILD_POLICY, pfs);
        if (c) expect(c.peerSpi).toBeGreaterThanOrEqual(256);
      }),
      { numRuns: 500 },
    );
  });
});

const sel = (a: string, b: string): TrafficSelector => ipv4Range(Buffer.from(a.split('.').map(Number)), Buffer.from(b.split('.').map(Number)));

describe('traffic selector narrowing (§2.9)', () => {
  it('the usual client (0.0.0.0/0 both ways) gets its virtual IP and the full tunnel', () => {
    const n = narrowTrafficSelectors([sel('0.0.0.0', '255.255.255.255')], [sel('0.0.0.0', '255.255.255.255')], '10.10.0.5', FULL_TUNNEL)!;
    expect(n.tsi).toEqual([sel('10.10.0.5', '10.10.0.5')]);
    expect(n.tsr).toEqual([sel('0.0.0.0', '255.255.255.255')]);
  });
  it('Windows and strongSwan put the address they had first; our side narrows to what we route', () => {
    const n = narrowTrafficSelectors([sel('192.168.1.20', '192.168.1.20'), sel('0.0.0.0', '255.255.255.255')], [sel('0.0.0.0', '255.255.255.255')], '10.10.0.5', [{ start: 0x0a000000, end: 0x0affffff }])!;
    expect(n.tsi).toEqual([sel('10.10.0.5', '10.10.0.5')]);
    expect(n.tsr).toEqual([sel('10.0.0.0', '10.255.255.255')]);
  });
  it('TS_UNACCEPTABLE when the client excludes its virtual IP or our networks; IPv6 is left out; ports kept', () => {
    expect(narrowTrafficSelectors([sel('192.168.1.0', '192.168.1.255')], [sel('0.0.0.0', '255.255.255.255')], '10.10.0.5', FULL_TUNNEL)).toBeUndefined();
    expect(narrowTrafficSelectors([sel('0.0.0.0', '255.255.255.255')], [sel('192.168.0.0', '192.168.255.255')], '10.10.0.5', [{ start: 0x0a000000, end: 0x0affffff }])).toBeUndefined();
    const v6: TrafficSelector = { tsType: 8, ipProtocol: 0, startPort: 0, endPort: 65535, startAddress: Buffer.alloc(16), endAddress: Buffer.alloc(16, 0xff) };
    const n = narrowTrafficSelectors([v6, sel('0.0.0.0', '255.255.255.255')], [v6, { ...sel('0.0.0.0', '255.255.255.255'), ipProtocol: 17, startPort: 53, endPort: 53 }], '10.10.0.5', FULL_TUNNEL)!;
    expect(n.tsr).toEqual([{ ...sel('0.0.0.0', '255.255.255.255'), ipProtocol: 17, startPort: 53, endPort: 53 }]);
  });
});

describe('configuration payload (§2.19)', () => {
  it('reads the request (empty address, or the one it had) and builds the reply', () => {
    const req = decodeCp(encodeCp({ cfgType: CfgType.CFG_REQUEST, attributes: [{ type: ConfigAttr.INTERNAL_IP4_ADDRESS, value: Buffer.alloc(0) }, { type: ConfigAttr.INTERNAL_IP4_DNS, value: Buffer.alloc(0) }, { type: 0x5ba0, value: Buffer.alloc(0) }] }));
    expect(cpWants(req)).toEqual({ ip4: true, requestedIp4: undefined, dns4: true });
    expect(cpWants({ cfgType: CfgType.CFG_REQUEST, attributes: [{ type: 1, value: Buffer.from([10, 10, 0, 9]) }] })).toEqual({ ip4: true, requestedIp4: '10.10.0.9', dns4: false });
    expect(cpWants({ cfgType: CfgType.CFG_REQUEST, attributes: [{ type: 1, value: Buffer.alloc(4) }] }).requestedIp4).toBeUndefined();
    expect(cpWants({ cfgType: CfgType.CFG_SET, attributes: [{ type: 1, value: Buffer.alloc(0) }] }).ip4).toBe(false);
    expect(cpWants(undefined).ip4).toBe(false);
    const reply = decodeCp(encodeCp(cpReply('10.10.0.5', ['1.1.1.1', '9.9.9.9'])));
    expect(reply).toEqual({ cfgType: CfgType.CFG_REPLY, attributes: [{ type: 1, value: Buffer.from([10, 10, 0, 5]) }, { type: 3, value: Buffer.from([1, 1, 1, 1]) }, { type: 3, value: Buffer.from([9, 9, 9, 9]) }] });
  });
});
