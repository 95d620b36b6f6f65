/** The peer's NAT mapping changes (RFC 3947 §4): IKE follows authenticated messages only, and keeps the peer's identity. */
import { describe, expect, it } from 'vitest';
import { DOI_IPSEC, NotifyType, PayloadType, ProtocolId } from '../../src/ike/wire/constants.js';
import { encodeNotify } from '../../src/ike/wire/notify.js';
import { deliver, initiator, mainMode, only, quickMode, responder, sends } from './harness.js';

const MOVED = { address: '203.0.113.7', port: 61001 };
const MOVED2 = { address: '203.0.113.7', port: 61002 };

function connected() {
  const r = responder({ dpdIdle: 30 });
  const i = initiator({ dpd: true, natT: true });
  mainMode(r, i, 0);
  const first = quickMode(r, i, { cipher: 'aes128', auth: 'sha1' }, 0).up;
  const spi = Buffer.concat([i.ckyI, i.ckyR]);
  const rut = (seq: number) => i.informational([{ type: PayloadType.N, body: encodeNotify({ doi: DOI_IPSEC, protocolId: ProtocolId.ISAKMP, spi, notifyType: NotifyType.R_U_THERE, data: Buffer.from([0, 0, 0, seq]) }) }]);
  return { r, i, first, rut };
}

describe('IKE: NAT rebinding', () => {
  it('an authenticated message from a new port moves where we send; the identity (child SA peer) stays', () => {
    const { r, i, first, rut } = connected();
    expect(first.peer).toEqual({ address: '203.0.113.7', port: 4500 });
    expect(first.remote).toBeUndefined();
    i.src = MOVED;
    const out = deliver(r, i, rut(1), 1000);
    expect(only(out).to).toEqual(MOVED); // the ACK goes where the client is now
    expect(out.filter((o) => o.type === 'peer-moved')).toEqual([{ type: 'peer-moved', ikeSaId: expect.any(String), peer: first.peer, remote: MOVED }]);
    // our own DPD probe goes there too
    const probe = r.tick(31_000 + 1000);
    expect(only(probe).to).toEqual(MOVED);
    // a Quick Mode rekey from there: the new child SA keeps the identity and carries the remote
    const again = quickMode(r, i, { cipher: 'aes128', auth: 'sha1' }, 33_000).up;
    expect(again.peer).toEqual(first.peer);
    expect(again.remote).toEqual(MOVED);
    expect(r.list()[0]!.peer).toEqual(first.peer);
  });

  it('an unauthenticated message from a new port moves nothing', () => {
    const { r, i, rut } = connected();
    i.src = MOVED;
    const bad = rut(1);
    bad[bad.length - 1]! ^= 0xff; // last ciphertext block: the HASH no longer verifies
    const out = deliver(r, i, bad, 1000);
    expect(sends(out)).toHaveLength(0);
    expect(out.some((o) => o.type === 'peer-moved')).toBe(false);
    expect(only(r.tick(31_000)).to).toEqual({ address: '203.0.113.7', port: 4500 });
  });

  it('a message from another address is dropped before any work, unless the SA already moved there', () => {
    const { r, i, rut } = connected();
    i.src = { address: '192.0.2.99', port: 4500 };
    const out = deliver(r, i, rut(1), 1000);
    expect(sends(out)).toHaveLength(0);
    expect(r.counters.get('ike.drop.wrong-peer-address')).toBe(1);
    // the ESP layer saw the client (authenticated) at that address: IKE follows
    r.movePeer({ address: '203.0.113.7', port: 4500 }, { address: '192.0.2.99', port: 4500 });
    expect(only(deliver(r, i, rut(2), 2000)).to).toEqual({ address: '192.0.2.99', port: 4500 });
  });

  it('movePeer (the ESP layer saw the move) redirects DPD of that peer only', () => {
    const { r, first } = connected();
    const other = initiator({ dpd: true, natT: true, seen500: { address: '203.0.113.8', port: 500 }, seen4500: { address: '203.0.113.8', port: 4500 } });
    mainMode(r, other, 0);
    const logs = r.movePeer(first.peer, MOVED2);
    expect(logs.filter((o) => o.type === 'log' && o.event === 'ike.peer.moved')).toHaveLength(1);
    const probes = sends(r.tick(31_000)).map((s) => s.to);
    expect(probes).toContainEqual(MOVED2);
    expect(probes).toContainEqual({ address: '203.0.113.8', port: 4500 });
    expect(probes).not.toContainEqual(first.peer);
    expect(r.movePeer(first.peer, MOVED2).filter((o) => o.type === 'log')).toHaveLength(0);
  });

});
