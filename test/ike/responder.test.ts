import { describe, expect, it } from 'vitest';
import { IdType } from '../../src/ike/wire/constants.js';
import { bytesToIPv4 } from '../../src/core/ipv4.js';
import { deliver, initiator, logs, mainMode, only, quickMode, responder, sends, SERVER, SERVER4500 } from './harness.js';
import type { P1Spec, P2Spec } from './initiator.js';

describe('IKEv1 responder: Main Mode + Quick Mode against the test initiator', () => {
  const p1s: P1Spec[] = [
    { enc: 'aes128', hash: 'sha1', group: 2 },
    { enc: 'aes256', hash: 'sha1', group: 14 },
    { enc: '3des', hash: 'sha1', group: 2 },
    { enc: 'aes256', hash: 'sha256', group: 14 },
    { enc: 'aes192', hash: 'sha384', group: 5 },
    { enc: 'aes256', hash: 'sha512', group: 19 },
    { enc: 'aes128', hash: 'sha256', group: 20 },
  ];
  for (const p1 of p1s) {
    it(`completes with ${p1.enc}/${p1.hash}/group ${p1.group}; child keys match the initiator's (swapped)`, () => {
      const r = responder();
      const i = initiator({ p1: [p1] });
      const out = mainMode(r, i);
      const upIke = out.find((o) => o.type === 'ike-sa-up');
      expect(upIke).toMatchObject({ type: 'ike-sa-up', peerId: 'ID_IPV4_ADDR 192.168.1.10' });
      const { up, keys } = quickMode(r, i, { cipher: 'aes128', auth: 'sha1' });
      expect(up.inbound.spi).toBe(keys.spiR);
      expect(up.outbound.spi).toBe(keys.spiI);
      expect(up.inbound.encKey.equals(keys.i2r.encKey)).toBe(true);
      expect(up.inbound.authKey.equals(keys.i2r.authKey)).toBe(true);
      expect(up.outbound.encKey.equals(keys.r2i.encKey)).toBe(true);
      expect(up.outbound.authKey.equals(keys.r2i.authKey)).toBe(true);
      expect(up.inbound.encKey.length).toBe(16);
      expect(up.inbound.authKey.length).toBe(20);
      expect(up.encapsulation).toBe('udp');
      expect(r.list()).toHaveLength(1);
    });
  }

  const p2s: P2Spec[] = [
    { cipher: 'aes256', auth: 'sha1' },
    { cipher: '3des', auth: 'sha1' },
    { cipher: 'aes128', auth: 'sha256' },
    { cipher: 'aes128gcm16' },
    { cipher: 'aes256gcm16' },
    { cipher: 'aes128', auth: 'sha1', pfs: 2 },
    { cipher: 'aes256', auth: 'sha256', pfs: 14 },
    { cipher: 'aes128', auth: 'sha1', pfs: 19 },
    { cipher: 'aes128', auth: 'sha1', ids: 'none' },
    { cipher: 'aes128', auth: 'sha1', ids: 'any' },
    { cipher: 'aes128', auth: 'sha1', natOa: true },
  ];
  for (const p2 of p2s) {
    it(`Quick Mode ${JSON.stringify(p2)}`, () => {
      const r = responder();
      const i = initiator();
      mainMode(r, i);
      const { up, keys } = quickMode(r, i, p2);
      expect(up.inbound.encKey.equals(keys.i2r.encKey)).toBe(true);
      expect(up.outbound.encKey.equals(keys.r2i.encKey)).toBe(true);
      expect(up.inbound.authKey.equals(keys.i2r.authKey)).toBe(true);
      expect(up.outbound.authKey.equals(keys.r2i.authKey)).toBe(true);
      const expectEnc = p2.cipher === '3des' ? 24 : Number(p2.cipher.slice(3, 6)) / 8 + (p2.cipher.endsWith('gcm16') ? 4 : 0);
      expect(up.inbound.encKey.length).toBe(expectEnc);
      expect(up.transform.cipher).toBe(p2.cipher === '3des' ? '3des-cbc' : p2.cipher.endsWith('gcm16') ? 'aes-gcm-16' : 'aes-cbc');
      expect(up.transform.integ).toBe(p2.auth === 'sha1' ? 'hmac-sha1-96' : p2.auth === 'sha256' ? 'hmac-sha256-128' : 'none');
      if (p2.natOa) expect(up.peerOriginalAddress).toBe('192.168.1.10');
    });
  }

  it('floats to 4500: MM5 arrives from the NAT mapping on 4500, replies go from 4500 to it', () => {
    const r = responder();
    const i = initiator();
    i.onMm2(only(deliver(r, i, i.mm1(), 0)).data);
    const nat = i.onMm4(only(deliver(r, i, i.mm3(), 0)).data);
    expect(nat.serverBehindNat).toBe(false); // our own NAT-D is correct
    expect(i.behindNat).toBe(true); // forced encapsulation: the peer believes it is NATed
    expect(i.dst).toEqual(SERVER4500);
    const out = deliver(r, i, i.mm5(), 1);
    const s = only(out);
    expect(s.from).toEqual(SERVER4500);
    expect(s.to).toEqual({ address: '203.0.113.7', port: 4500 });
    const idr = i.onMm6(s.data);
    expect(idr.idType).toBe(IdType.IPV4_ADDR);
    expect(bytesToIPv4(idr.data)).toBe(SERVER.address);
    expect(r.list()[0]!.peer).toEqual({ address: '203.0.113.7', port: 4500 });
    const { up } = quickMode(r, i, { cipher: 'aes128', auth: 'sha1' }, 2);
    expect(up.peer).toEqual({ address: '203.0.113.7', port: 4500 });
    expect(up.local).toEqual(SERVER4500);
  });

  it('a server behind NAT (peer dialled another address) still looks un-NATed to the peer', () => {
    const r = responder();
    const i = initiator({ server: { address: '192.0.2.50', port: 500 } }); // the public address; we see packets on SERVER
    i.onMm2(only(r.receive(i.mm1(), i.src, SERVER, 0)).data);
    const nat = i.onMm4(only(r.receive(i.mm3(), i.src, SERVER, 0)).data);
    expect(nat.serverBehindNat).toBe(false);
    expect(i.behindNat).toBe(true);
  });

  it('draft NAT-T (02\\n): NAT-D payload type 130, UDP-Transport 61444 accepted, keys match', () => {
    const r = responder();
    const i = initiator({ natTDraft: true });
    mainMode(r, i);
    expect(i.mm4Types).toEqual([4, 10, 130, 130]);
    expect(i.dst).toEqual(SERVER4500);
    const { up, keys } = quickMode(r, i, { cipher: 'aes256', auth: 'sha1', natOa: true });
    expect(up.encapsulation).toBe('udp');
    expect(up.inbound.encKey.equals(keys.i2r.encKey)).toBe(true);
  });

  it('IDir mirrors the peer protocol/port form and honours localId', () => {
    const r = responder({ localId: 'vpn.example.com' });
    const i = initiator({ id: { idType: IdType.IPV4_ADDR, protocol: 0, port: 0, data: Buffer.from([10, 0, 0, 2]) } });
    i.onMm2(only(deliver(r, i, i.mm1(), 0)).data);
    i.onMm4(only(deliver(r, i, i.mm3(), 0)).data);
    const idr = i.onMm6(only(deliver(r, i, i.mm5(), 0)).data);
    expect(idr).toMatchObject({ idType: IdType.FQDN, protocol: 0, port: 0 });
    expect(idr.data.toString()).toBe('vpn.example.com');
    const r2 = responder();
    const i2 = initiator();
    i2.onMm2(only(deliver(r2, i2, i2.mm1(), 0)).data);
    i2.onMm4(only(deliver(r2, i2, i2.mm3(), 0)).data);
    expect(i2.onMm6(only(deliver(r2, i2, i2.mm5(), 0)).data)).toMatchObject({ idType: IdType.IPV4_ADDR, protocol: 17, port: 500 });
  });

  it('without forceEncapsulation and without NAT the peer stays on 500 and the NAT-D hashes match', () => {
    const r = responder({ forceEncapsulation: false });
    const i = initiator({ seen500: { address: '192.168.1.10', port: 500 }, seen4500: { address: '192.168.1.10', port: 4500 } });
    i.onMm2(only(deliver(r, i, i.mm1(), 0)).data);
    i.onMm4(only(deliver(r, i, i.mm3(), 0)).data);
    expect(i.behindNat).toBe(false);
    expect(i.dst).toEqual(SERVER);
    i.onMm6(only(deliver(r, i, i.mm5(), 0)).data);
    const { up } = quickMode(r, i, { cipher: 'aes128', auth: 'sha1' });
    expect(up.encapsulation).toBe('none');
  });

  it('a peer without NAT-T stays on 500: warned about, child encapsulation none', () => {
    const r = responder();
    const i = initiator({ natT: false });
    const first = deliver(r, i, i.mm1(), 0);
    expect(logs(first, 'ike.natt.unsupported')).toHaveLength(1);
    i.onMm2(only(first).data);
    i.onMm4(only(deliver(r, i, i.mm3(), 0)).data);
    i.onMm6(only(deliver(r, i, i.mm5(), 0)).data);
    expect(i.dst).toEqual(SERVER);
    expect(quickMode(r, i, { cipher: 'aes128', auth: 'sha1' }).up.encapsulation).toBe('none');
  });

  it('answers with the first acceptable transform of several', () => {
    const r = responder();
    const i = initiator({ p1: [{ enc: 'aes128', hash: 'sha1', group: 1 }, { enc: 'aes256', hash: 'sha256', group: 14 }, { enc: 'aes128', hash: 'sha1', group: 2 }] });
    const out = mainMode(r, i);
    expect(out.find((o) => o.type === 'ike-sa-up')).toMatchObject({ algorithms: 'aes256-sha256-modp2048' });
  });

  it('lowers a child lifetime above the maximum and says so with RESPONDER-LIFETIME', () => {
    const r = responder({ childLifetimeMax: 1800 });
    const i = initiator();
    mainMode(r, i);
    const q = i.qm1({ cipher: 'aes128', auth: 'sha1', lifetime: 3600 });
    const chain = i.onQm2(only(deliver(r, i, q.data, 0)).data);
    expect(chain.notifies.map((n) => n.notifyType)).toContain(24576);
    const out = deliver(r, i, i.qm3(q.mid).data, 0);
    const up = out.find((o) => o.type === 'child-sa-up');
    expect(up).toMatchObject({ lifetimeSeconds: 1800 });
  });

  it('accepts a Phase 2 rekey: a second Quick Mode adds a child, the old one stays until deleted', () => {
    const r = responder();
    const i = initiator();
    mainMode(r, i);
    const a = quickMode(r, i, { cipher: 'aes128', auth: 'sha1' }, 0);
    const b = quickMode(r, i, { cipher: 'aes128', auth: 'sha1' }, 3_000_000);
    expect(a.up.id).not.toBe(b.up.id);
    expect(a.up.inbound.spi).not.toBe(b.up.inbound.spi);
    expect(r.tick(3_000_001).some((o) => o.type === 'child-sa-down')).toBe(false);
    // The first child expires at its lifetime (3600 s).
    const down = r.tick(3_600_000);
    expect(down.filter((o) => o.type === 'child-sa-down')).toEqual([expect.objectContaining({ id: a.up.id, reason: 'expired' })]);
  });

  it('accepts a Phase 1 rekey: the new IKE SA adopts the children, deleting the old IKE SA keeps them', () => {
    const r = responder();
    const i1 = initiator();
    mainMode(r, i1);
    const { up } = quickMode(r, i1, { cipher: 'aes128', auth: 'sha1' });
    const i2 = initiator();
    mainMode(r, i2, 10);
    expect(r.list()).toHaveLength(2);
    const out = deliver(r, i1, i1.informational([{ type: 12, body: Buffer.concat([Buffer.from([0, 0, 0, 1, 1, 16, 0, 1]), i1.ckyI, i1.ckyR]) }]), 20);
    expect(out.some((o) => o.type === 'ike-sa-down')).toBe(true);
    expect(out.some((o) => o.type === 'child-sa-down')).toBe(false);
    expect(r.list()).toHaveLength(1);
    const d = r.deleteChildSa(up.id, 30);
    expect(d.filter((o) => o.type === 'child-sa-down')).toHaveLength(1);
    const del = i2.openInformational(only(d).data);
    expect(del.deletes[0]!.spis[0]!.readUInt32BE(0)).toBe(up.inbound.spi);
  });

  it('shutdown sends Delete for children and IKE SAs', () => {
    const r = responder();
    const i = initiator();
    mainMode(r, i);
    quickMode(r, i, { cipher: 'aes128', auth: 'sha1' });
    const out = r.shutdown(5);
    const chains = out.filter((o) => o.type === 'send').map((s) => i.openInformational((s as { data: Buffer }).data));
    expect(chains.map((c) => c.deletes[0]!.protocolId)).toEqual([3, 1]);
    expect(out.filter((o) => o.type === 'child-sa-down')).toHaveLength(1);
    expect(out.filter((o) => o.type === 'ike-sa-down')).toHaveLength(1);
    expect(r.list()).toHaveLength(0);
    expect(logs(out, 'ike.phase1.down')).toHaveLength(1);
  });

  // QM3 is the initiator's last message and it never resends it: when QM3 is lost (seen with
  // 5% loss on the path in the interop scenario `loss`), the client has its SAs and the
  // server has none, unless the server sends QM2 again and the client answers with QM3.
  it('sends QM2 again at 2, 6 and 14 s while QM3 is missing; a late QM3 still installs the child', () => {
    const r = responder();
    const i = initiator();
    mainMode(r, i, 0);
    const q = i.qm1({ cipher: 'aes128', auth: 'sha1' });
    const qm2 = only(deliver(r, i, q.data, 100)).data;
    expect(r.nextDeadline()).toBe(2100);
    expect(sends(r.tick(2099))).toHaveLength(0);
    const again = only(r.tick(2100));
    expect(again.data.equals(qm2)).toBe(true);
    expect(again.to).toEqual(i.src);
    expect(r.nextDeadline()).toBe(6100);
    expect(sends(r.tick(6099))).toHaveLength(0);
    expect(only(r.tick(6100)).data.equals(qm2)).toBe(true);
    expect(only(r.tick(14_100)).data.equals(qm2)).toBe(true);
    // three times only
    expect(sends(r.tick(29_000))).toHaveLength(0);
    expect(r.nextDeadline()).toBe(30_100);
    i.onQm2(qm2);
    expect(deliver(r, i, i.qm3(q.mid).data, 29_500).filter((o) => o.type === 'child-sa-up')).toHaveLength(1);
  });

  it('does not send QM2 again once QM3 has come', () => {
    const r = responder();
    const i = initiator();
    mainMode(r, i, 0);
    quickMode(r, i, { cipher: 'aes128', auth: 'sha1' }, 100);
    expect(sends(r.tick(2100))).toHaveLength(0);
    expect(sends(r.tick(14_100))).toHaveLength(0);
  });
});
