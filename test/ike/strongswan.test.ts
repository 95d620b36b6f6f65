import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeMessage } from '../../src/ike/wire/message.js';
import { ExchangeType, P1Attr, PayloadType } from '../../src/ike/wire/constants.js';
import { VID_DPD, VID_FRAGMENTATION, VID_NATT_DRAFT_02N, VID_RFC3947, VID_XAUTH } from '../../src/ike/natt.js';
import { attrNumber } from '../../src/ike/wire/attributes.js';
import { only, responder, SERVER } from './harness.js';

const MM1 = readFileSync('/work/shared/testbed/strongswan-5.9.8-main-mode-msg1.bin');

describe('strongSwan 5.9.8 Main Mode message 1', () => {
  it('decodes to the expected proposal and vendor IDs', () => {
    const m = decodeMessage(MM1);
    expect(m.header.exchangeType).toBe(ExchangeType.IDENTITY_PROTECTION);
    expect(m.header.length).toBe(MM1.length);
    expect(m.header.responderCookie.equals(Buffer.alloc(8))).toBe(true);
    const sa = m.payloads.sa!.value;
    expect(sa.doi).toBe(1);
    expect(sa.situation).toBe(1);
    expect(sa.proposals).toHaveLength(1);
    const t = sa.proposals[0]!.transforms;
    expect(t).toHaveLength(1);
    const attrs = Object.fromEntries(t[0]!.attributes.map((a) => [a.type, attrNumber(a)]));
    expect(attrs).toEqual({
      [P1Attr.ENCRYPTION]: 7, [P1Attr.KEY_LENGTH]: 128, [P1Attr.HASH]: 2, [P1Attr.GROUP]: 2, [P1Attr.AUTH_METHOD]: 1,
      [P1Attr.LIFE_TYPE]: 1, [P1Attr.LIFE_DURATION]: 15840, // 0x3de0 in the capture (the brief says 15360)
    });
    const vids = m.payloads.vendorIds;
    expect(vids).toHaveLength(5);
    expect(vids[0]!.equals(VID_XAUTH)).toBe(true);
    expect(vids[1]!.equals(VID_DPD)).toBe(true);
    expect(vids[2]!.subarray(0, 16).equals(VID_FRAGMENTATION)).toBe(true);
    expect(vids[3]!.equals(VID_RFC3947)).toBe(true);
    expect(vids[4]!.equals(VID_NATT_DRAFT_02N)).toBe(true);
  });

  it('gets a valid MM2: the same transform echoed, RFC 3947 and DPD vendor IDs, our cookie', () => {
    const r = responder();
    const out = r.receive(MM1, { address: '10.99.0.2', port: 500 }, SERVER, 0);
    const s = only(out);
    expect(s.to).toEqual({ address: '10.99.0.2', port: 500 });
    expect(s.from).toEqual(SERVER);
    const m = decodeMessage(s.data);
    expect(m.header.initiatorCookie.equals(MM1.subarray(0, 8))).toBe(true);
    expect(m.header.responderCookie.equals(Buffer.alloc(8))).toBe(false);
    expect(m.header.exchangeType).toBe(ExchangeType.IDENTITY_PROTECTION);
    expect(m.header.messageId).toBe(0);
    expect(m.payloads.order[0]).toBe(PayloadType.SA);
    const req = decodeMessage(MM1).payloads.sa!.value.proposals[0]!;
    const p = m.payloads.sa!.value.proposals;
    expect(p).toHaveLength(1);
    expect(p[0]!.number).toBe(req.number);
    expect(p[0]!.transforms).toEqual(req.transforms);
    expect(m.payloads.vendorIds.some((v) => v.equals(VID_RFC3947))).toBe(true);
    expect(m.payloads.vendorIds.some((v) => v.equals(VID_DPD))).toBe(true);
    expect(s.data.length).toBeLessThanOrEqual(MM1.length);
    // A retransmitted MM1 gets the identical cached reply.
    const again = only(r.receive(MM1, { address: '10.99.0.2', port: 500 }, SERVER, 100));
    expect(again.data.equals(s.data)).toBe(true);
  });
});
