import { describe, expect, it } from 'vitest';
import { Counters } from '../../src/core/counters.js';
import { ExchangeType, PayloadType } from '../../src/ike/wire/constants.js';
import { decodePayloadChain, encodeMessage, encodePayloadChain, type OutPayload } from '../../src/ike/wire/message.js';
import { EXCHANGE_STEPS, exchangeStep, payloadProblem } from '../../src/ike/steps.js';
import { prf } from '../../src/ike/crypto/prf.js';
import { encodeSa } from '../../src/ike/wire/sa.js';
import { deliver, initiator, logs, mainMode, only, responder, sends } from './harness.js';

/** A decoded chain holding exactly these payload types (bodies that every decoder accepts). */
function chainOf(types: number[]): ReturnType<typeof decodePayloadChain> {
  const body = (t: number): Buffer => {
    switch (t) {
      case PayloadType.SA:
        return VALID_SA;
      case PayloadType.ID:
        return Buffer.from([1, 0, 0, 0, 10, 0, 0, 1]);
      default:
        return Buffer.alloc(16, 1);
    }
  };
  const payloads: OutPayload[] = types.map((t) => ({ type: t, body: body(t) }));
  return decodePayloadChain(types[0] ?? PayloadType.NONE, encodePayloadChain(payloads), 0, false);
}

const VALID_SA = encodeSa({ doi: 1, situation: 1, proposals: [{ number: 1, protocolId: 1, spi: Buffer.alloc(0), transforms: [{ number: 1, id: 1, attributes: [] }] }] });
const hdr = (ckyI: Buffer, ckyR: Buffer, mid = 0) => ({ initiatorCookie: ckyI, responderCookie: ckyR, exchangeType: ExchangeType.IDENTITY_PROTECTION, flags: 0, messageId: mid });
const message = (ckyI: Buffer, ckyR: Buffer, payloads: OutPayload[]): Buffer => encodeMessage(hdr(ckyI, ckyR), payloads[0]!.type, encodePayloadChain(payloads));

describe('IKE exchange steps as a table', () => {
  it('one step per exchange and state, and its payload rules judge a chain', () => {
    const keys = EXCHANGE_STEPS.map((s) => `${s.exchange}:${s.state}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(EXCHANGE_STEPS.map((s) => s.name)).toEqual(['mm1', 'mm3', 'mm5', 'qm1', 'qm3', 'informational']);
    expect(exchangeStep(ExchangeType.IDENTITY_PROTECTION, 'ESTABLISHED')).toBeUndefined();
    for (const step of EXCHANGE_STEPS) {
      expect(step.required.filter((t) => step.forbidden.includes(t))).toEqual([]);
      if (step.required.length + step.forbidden.length > 0) expect(step.badPayloads, step.name).toBeDefined();
      // Phase 2 chains are read HASH first: give every chain a HASH unless the step forbids it.
      const base = [...step.required, ...(step.forbidden.includes(PayloadType.HASH) || step.required.includes(PayloadType.HASH) ? [] : [PayloadType.HASH])];
      expect(payloadProblem(step, chainOf(base)), step.name).toBeUndefined();
      for (const t of step.required) {
        expect(payloadProblem(step, chainOf(base.filter((x) => x !== t))), `${step.name} without ${t}`).toMatch(/^missing /);
      }
      for (const t of step.forbidden) {
        expect(payloadProblem(step, chainOf([...base, t])), `${step.name} with ${t}`).toMatch(/^forbidden /);
      }
    }
  });

  it('MM1 with a forbidden payload or without its required SA: dropped, counted, no SA, no reply', () => {
    const counters = new Counters();
    const r = responder({ counters });
    const i = initiator();
    const good = i.mm1();
    const payloads = decodePayloadChain(good[16]!, good, 28, false);
    const sa: OutPayload = { type: PayloadType.SA, body: payloads.sa!.body };
    for (const extra of [PayloadType.KE, PayloadType.NONCE, PayloadType.HASH]) {
      const out = deliver(r, i, message(i.ckyI, Buffer.alloc(8), [sa, { type: extra, body: Buffer.alloc(20, 2) }]), 0);
      expect(sends(out)).toHaveLength(0);
      expect(logs(out, 'ike.drop')[0]).toMatchObject({ fields: { reason: 'mm1-payloads' } });
    }
    const noSa = deliver(r, i, message(i.ckyI, Buffer.alloc(8), [{ type: PayloadType.VID, body: Buffer.alloc(16, 7) }]), 0);
    expect(sends(noSa)).toHaveLength(0);
    expect(counters.get('ike.drop.mm1-payloads')).toBe(4);
    expect(r.list()).toHaveLength(0);
    // Nothing was kept: the real MM1 of the same cookies still starts the exchange.
    i.onMm2(only(deliver(r, i, good, 1)).data);
  });

  it('MM3 with a forbidden SA or without its Nonce: dropped and counted, the SA still waits for a good MM3', () => {
    const counters = new Counters();
    const r = responder({ counters });
    const i = initiator();
    i.onMm2(only(deliver(r, i, i.mm1(), 0)).data);
    const ke: OutPayload = { type: PayloadType.KE, body: Buffer.alloc(128, 3) };
    const nonce: OutPayload = { type: PayloadType.NONCE, body: Buffer.alloc(16, 4) };
    const sa: OutPayload = { type: PayloadType.SA, body: VALID_SA };
    expect(sends(deliver(r, i, message(i.ckyI, i.ckyR, [ke, nonce, sa]), 1))).toHaveLength(0);
    expect(sends(deliver(r, i, message(i.ckyI, i.ckyR, [ke]), 1))).toHaveLength(0);
    expect(counters.get('ike.drop.mm3-payloads')).toBe(2);
    i.onMm4(only(deliver(r, i, i.mm3(), 2)).data);
    i.onMm6(only(deliver(r, i, i.mm5(), 3)).data);
    expect(r.list()).toHaveLength(1);
  });

  it('QM1 without its required Nonce: dropped and counted after authentication, no reply, no Quick Mode', () => {
    const counters = new Counters();
    const r = responder({ counters });
    const i = initiator();
    mainMode(r, i);
    const rest: OutPayload[] = [
      { type: PayloadType.SA, body: encodeSa({ doi: 1, situation: 1, proposals: [{ number: 1, protocolId: 3, spi: Buffer.from([1, 2, 3, 4]), transforms: [{ number: 1, id: 12, attributes: [] }] }] }) },
    ];
    const mid = 777;
    const m = Buffer.alloc(4);
    m.writeUInt32BE(mid);
    const h1 = prf('sha1', i.skeyidA, m, encodePayloadChain(rest));
    const out = deliver(r, i, i.raw(ExchangeType.QUICK_MODE, mid, [{ type: PayloadType.HASH, body: h1 }, ...rest], true), 1);
    expect(sends(out)).toHaveLength(0);
    expect(counters.get('ike.drop.qm-payloads')).toBe(1);
    expect(logs(out, 'ike.drop')[0]).toMatchObject({ fields: { reason: 'qm-payloads' } });
  });

  it('retransmissions get the cached reply of their step, counted per step, once per exchange', () => {
    const counters = new Counters();
    const r = responder({ counters });
    const i = initiator();
    const mm1 = i.mm1();
    const mm2 = only(deliver(r, i, mm1, 0)).data;
    expect(only(deliver(r, i, mm1, 1)).data.equals(mm2)).toBe(true);
    i.onMm2(mm2);
    const mm3 = i.mm3();
    const mm4 = only(deliver(r, i, mm3, 2)).data;
    expect(only(deliver(r, i, mm3, 3)).data.equals(mm4)).toBe(true);
    i.onMm4(mm4);
    const mm5 = i.mm5();
    const mm6 = only(deliver(r, i, mm5, 4)).data;
    expect(only(deliver(r, i, mm5, 5)).data.equals(mm6)).toBe(true);
    expect(counters.get('ike.retransmit.mm1')).toBe(1);
    expect(counters.get('ike.retransmit.MM4_SENT')).toBe(1);
    expect(counters.get('ike.retransmit.ESTABLISHED')).toBe(1);
    // A Main Mode retransmission must come from the address Phase 1 ran with, even when the peer moved.
    const moved = { address: '198.18.0.9', port: 4500 };
    r.movePeer(i.src, moved);
    const away = r.receive(mm5, moved, i.dst, 6);
    expect(sends(away)).toHaveLength(0);
    expect(counters.get('ike.drop.retransmit-wrong-peer')).toBe(1);
  });
});
