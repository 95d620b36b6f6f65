/** CREATE_CHILD_SA from the client: child SA rekey with and without PFS (RFC 7296 §1.3.3, §2.17). */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ChildSaUp } from '../../src/core/sa.js';
import { encrAlg, PRF_ALGS } from '../../src/ikev2/crypto/algorithms.js';
import { childKeys, deriveIkeKeys, skeyseedRekey } from '../../src/ikev2/crypto/keys.js';
import { generateKeyPair, IKEV2_DH_GROUPS } from '../../src/ikev2/crypto/dh.js';
import { DhGroup, Encr, ExchangeType, Integ, NotifyType, PayloadType, Prf } from '../../src/ikev2/wire/constants.js';
import { findPayload, type Payload } from '../../src/ikev2/wire/message.js';
import { notify } from '../../src/ikev2/wire/notify.js';
import { ANY, AuthClient, espProposal } from './auth-client.js';
import { ikeProposal, TestInitiator } from './initiator.js';
import { CLIENT, established, SERVER, sends } from './established.js';

function rekeyRequest(peerSpi: number, ni: Buffer, proposal = espProposal(Encr.AES_CBC, 256, Integ.HMAC_SHA2_256_128, 0xbeef0001), ke?: Payload): Payload[] {
  const spi = Buffer.alloc(4);
  spi.writeUInt32BE(peerSpi);
  return [
    { type: PayloadType.N, value: { protocolId: 3, spi, type: NotifyType.REKEY_SA, data: Buffer.alloc(0) } },
    { type: PayloadType.SA, value: { proposals: [proposal] } },
    { type: PayloadType.NONCE, value: { nonce: ni } },
    ...(ke ? [ke] : []),
    { type: PayloadType.TSi, value: { selectors: [ANY] } },
    { type: PayloadType.TSr, value: { selectors: [ANY] } },
  ];
}

function exchange(s: ReturnType<typeof established>, payloads: Payload[]) {
  const out = s.r.receive(s.c.request(payloads, undefined, s.c.messageId, ExchangeType.CREATE_CHILD_SA)[0]!, CLIENT, SERVER, 1000);
  return { out, chain: s.c.open(sends(out)) };
}

describe('child SA rekey', () => {
  it('without PFS: a new child with KEYMAT from the new nonces; the old one stays until deleted', () => {
    const s = established();
    const ni = randomBytes(32);
    const { out, chain } = exchange(s, rekeyRequest(s.child.outbound.spi, ni));
    const child = out.find((o): o is ChildSaUp => o.type === 'child-sa-up')!;
    const nr = findPayload(chain, PayloadType.NONCE)!.value.nonce;
    const k = childKeys(s.c.init.suite!.prf, s.c.init.keys!.skD, ni, nr, 32, 32);
    expect([child.inbound.encKey, child.inbound.authKey, child.outbound.encKey, child.outbound.authKey]).toEqual([k.i2r.encKey, k.i2r.integKey, k.r2i.encKey, k.r2i.integKey]);
    expect(child.outbound.spi).toBe(0xbeef0001);
    expect(findPayload(chain, PayloadType.SA)!.value.proposals[0]!.spi.readUInt32BE(0)).toBe(child.inbound.spi);
    expect(findPayload(chain, PayloadType.TSi)!.value.selectors[0]!.startAddress).toEqual(Buffer.from([10, 10, 0, 2]));
    expect(child.inbound.spi).not.toBe(s.child.inbound.spi);
    expect(out.some((o) => o.type === 'child-sa-down')).toBe(false);
    expect(s.r.sa(s.c.init.spiR)!.children.size).toBe(2);
  });
  it('with PFS: KE answered in the same group, KEYMAT = prf+(SK_d, g^ir | Ni | Nr)', () => {
    const s = established();
    const ni = randomBytes(32);
    const dh = generateKeyPair(IKEV2_DH_GROUPS[DhGroup.CURVE25519]!, randomBytes);
    const proposal = { ...espProposal(Encr.AES_GCM_16, 128, undefined, 0xbeef0002), transforms: [...espProposal(Encr.AES_GCM_16, 128).transforms, { type: 4, id: DhGroup.CURVE25519, attributes: [] }] };
    const { out, chain } = exchange(s, rekeyRequest(s.child.outbound.spi, ni, proposal, { type: PayloadType.KE, value: { group: DhGroup.CURVE25519, data: dh.publicValue } }));
    const ke = findPayload(chain, PayloadType.KE)!.value;
    expect(ke.group).toBe(DhGroup.CURVE25519);
    const gir = dh.computeShared(ke.data)!;
    const nr = findPayload(chain, PayloadType.NONCE)!.value.nonce;
    const k = childKeys(s.c.init.suite!.prf, s.c.init.keys!.skD, ni, nr, 20, 0, gir);
    const child = out.find((o): o is ChildSaUp => o.type === 'child-sa-up')!;
    expect(child.transform).toEqual({ cipher: 'aes-gcm-16', keyBits: 128, integ: 'none' });
    expect([child.inbound.encKey, child.outbound.encKey]).toEqual([k.i2r.encKey, k.r2i.encKey]);
  });
  it('a KE of a group we would not take gets INVALID_KE_PAYLOAD naming one we take', () => {
    const s = established();
    const dh = generateKeyPair(IKEV2_DH_GROUPS[DhGroup.MODP2048]!, randomBytes);
    const base = espProposal(Encr.AES_CBC, 128, Integ.HMAC_SHA1_96);
    const proposal = { ...base, transforms: [...base.transforms, { type: 4, id: DhGroup.ECP256, attributes: [] }] };
    const { chain, out } = exchange(s, rekeyRequest(s.child.outbound.spi, randomBytes(32), proposal, { type: PayloadType.KE, value: { group: DhGroup.MODP2048, data: dh.publicValue } }));
    const n = findPayload(chain, PayloadType.N)!.value;
    expect(n.type).toBe(NotifyType.INVALID_KE_PAYLOAD);
    expect(n.data).toEqual(Buffer.from([0, DhGroup.ECP256]));
    expect(out.some((o) => o.type === 'child-sa-up')).toBe(false);
  });
  it('an unknown SPI: CHILD_SA_NOT_FOUND; no REKEY_SA: NO_ADDITIONAL_SAS; missing nonce: INVALID_SYNTAX', () => {
    const s = established();
    expect(findPayload(exchange(s, rekeyRequest(0x1234, randomBytes(32))).chain, PayloadType.N)!.value.type).toBe(NotifyType.CHILD_SA_NOT_FOUND);
    const noRekey = rekeyRequest(s.child.outbound.spi, randomBytes(32)).filter((p) => p.type !== PayloadType.N);
    expect(findPayload(exchange(s, noRekey).chain, PayloadType.N)!.value.type).toBe(NotifyType.NO_ADDITIONAL_SAS);
    const noNonce = rekeyRequest(s.child.outbound.spi, randomBytes(32)).filter((p) => p.type !== PayloadType.NONCE);
    expect(findPayload(exchange(s, noNonce).chain, PayloadType.N)!.value.type).toBe(NotifyType.INVALID_SYNTAX);
    const ikeRekey: Payload[] = [{ type: PayloadType.SA, value: { proposals: [{ number: 1, protocolId: 1, spi: randomBytes(8), transforms: [] }] } }, { type: PayloadType.N, value: notify(NotifyType.INITIAL_CONTACT) }];
    expect(findPayload(exchange(s, ikeRekey).chain, PayloadType.N)!.value.type).toBe(NotifyType.INVALID_SYNTAX); // an IKE rekey without Ni and KE
    expect(s.r.sa(s.c.init.spiR)!.children.size).toBe(1);
  });
});

function ikeRekeyRequest(spiI: Buffer, ni: Buffer, keGroup: number, keData: Buffer, dh = [DhGroup.ECP256]): Payload[] {
  const p = ikeProposal(1, { encr: [[Encr.AES_GCM_16, 256]], prf: [Prf.HMAC_SHA2_384], dh });
  return [
    { type: PayloadType.SA, value: { proposals: [{ ...p, spi: spiI }] } },
    { type: PayloadType.NONCE, value: { nonce: ni } },
    { type: PayloadType.KE, value: { group: keGroup, data: keData } },
  ];
}

describe('IKE SA rekey (§1.3.2, §2.18)', () => {
  function rekeyed() {
    const s = established();
    const oldSa = s.r.sa(s.c.init.spiR)!;
    const spiI = randomBytes(8);
    const ni = randomBytes(32);
    const dh = generateKeyPair(IKEV2_DH_GROUPS[DhGroup.ECP256]!, randomBytes);
    const { chain, out } = exchange(s, ikeRekeyRequest(spiI, ni, DhGroup.ECP256, dh.publicValue));
    const p = findPayload(chain, PayloadType.SA)!.value.proposals[0]!;
    const nr = findPayload(chain, PayloadType.NONCE)!.value.nonce;
    const gir = dh.computeShared(findPayload(chain, PayloadType.KE)!.value.data)!;
    const suite = { encr: encrAlg(Encr.AES_GCM_16, 256)!, prf: PRF_ALGS[Prf.HMAC_SHA2_384]!, integ: undefined };
    const keys = deriveIkeKeys(suite, skeyseedRekey(s.c.init.suite!.prf, s.c.init.keys!.skD, gir, ni, nr), ni, nr, spiI, p.spi);
    // a client for the new SA: same initiator data, new SPIs, suite and keys
    const init2 = Object.assign(Object.create(Object.getPrototypeOf(s.c.init)) as TestInitiator, s.c.init, { spiI, spiR: p.spi, suite, keys });
    const c2 = new AuthClient(init2, 'alice', 'pw');
    c2.messageId = 0;
    return { s, oldSa, out, p, keys, c2 };
  }
  it('the new SA has keys the client derives too, the same id, the user and the children; the old one gives them up', () => {
    const { s, oldSa, out, p, keys, c2 } = rekeyed();
    expect(p.spi).toHaveLength(8);
    const next = s.r.sa(p.spi)!;
    expect(next.keys).toEqual(keys);
    expect(next.id).toBe(oldSa.id);
    expect(next.user).toBe('alice');
    expect(next.virtualIp).toBe('10.10.0.2');
    expect([...next.children.keys()]).toEqual([s.child.inbound.spi]);
    expect(oldSa.children.size).toBe(0);
    expect(oldSa.state).toBe('REKEYED');
    expect(out.some((o) => o.type === 'child-sa-down' || o.type === 'ikev2-sa-gone')).toBe(false);
    // the new SA answers a liveness check with Message ID 0
    const live = s.r.receive(c2.request([], undefined, 0, ExchangeType.INFORMATIONAL)[0]!, CLIENT, SERVER, 2000);
    expect(c2.open(sends(live)).payloads).toEqual([]);
    // the client deletes the old SA: answered, and nothing goes down
    const del = s.r.receive(s.c.request([{ type: PayloadType.D, value: { protocolId: 1, spiSize: 0, spis: [] } }], undefined, s.c.messageId, ExchangeType.INFORMATIONAL)[0]!, CLIENT, SERVER, 2000);
    expect(s.c.open(sends(del)).payloads).toEqual([]);
    expect(del.some((o) => o.type === 'child-sa-down' || o.type === 'ikev2-sa-gone')).toBe(false);
    expect(s.r.sa(s.c.init.spiR)).toBeUndefined();
    expect(s.r.sa(p.spi)!.children.size).toBe(1);
  });
  it('an old SA the client never deletes is dropped quietly after a minute', () => {
    const { s, p } = rekeyed();
    const out = s.r.tick(1000 + 60_000);
    expect(out.some((o) => o.type === 'child-sa-down' || o.type === 'ikev2-sa-gone')).toBe(false);
    expect(s.r.sa(s.c.init.spiR)).toBeUndefined();
    expect(s.r.sa(p.spi)).toBeDefined();
  });
  it('disconnect after a rekey ends the new SA (the old one no longer counts)', () => {
    const { s, p } = rekeyed();
    const { ok, outputs } = s.r.disconnect(s.r.sa(p.spi)!.id, 3000);
    expect(ok).toBe(true);
    expect(outputs.filter((o) => o.type === 'child-sa-down')).toHaveLength(1);
    expect(s.r.sa(p.spi)!.state).toBe('DELETING');
  });
  it('a KE of another group than the proposal we take: INVALID_KE_PAYLOAD; no SPI: INVALID_SYNTAX or NO_PROPOSAL_CHOSEN', () => {
    const s = established();
    const dh = generateKeyPair(IKEV2_DH_GROUPS[DhGroup.MODP2048]!, randomBytes);
    const n = findPayload(exchange(s, ikeRekeyRequest(randomBytes(8), randomBytes(32), DhGroup.MODP2048, dh.publicValue)).chain, PayloadType.N)!.value;
    expect(n.type).toBe(NotifyType.INVALID_KE_PAYLOAD);
    expect(n.data).toEqual(Buffer.from([0, DhGroup.ECP256]));
    const noSpi = findPayload(exchange(s, ikeRekeyRequest(Buffer.alloc(0), randomBytes(32), DhGroup.ECP256, dh.publicValue)).chain, PayloadType.N)!.value;
    expect(noSpi.type).toBe(NotifyType.NO_PROPOSAL_CHOSEN);
    expect(s.r.sa(s.c.init.spiR)!.state).toBe('ESTABLISHED');
  });
});
