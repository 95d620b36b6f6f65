import { randomBytes } from 'node:crypto';
import type { ChildSaUp, Endpoint } from '../../src/core/sa.js';
import { IkeResponder, type IkeOutput, type IkeResponderConfig, type SendOutput } from '../../src/ike/responder.js';
import { TestInitiator, type InitiatorOptions, type P2Spec } from './initiator.js';

export const PSK = Buffer.from('a long random group pre-shared key 0123456789');
export const SERVER: Endpoint = { address: '198.51.100.1', port: 500 };
export const SERVER4500: Endpoint = { address: '198.51.100.1', port: 4500 };

export function responder(extra: Partial<IkeResponderConfig> = {}): IkeResponder {
  return new IkeResponder({ psk: PSK, cookieSecret: randomBytes(32), ...extra });
}

export function initiator(extra: Partial<InitiatorOptions> = {}): TestInitiator {
  return new TestInitiator({
    psk: PSK,
    local: { address: '192.168.1.10', port: 500 },
    seen500: { address: '203.0.113.7', port: 500 },
    seen4500: { address: '203.0.113.7', port: 4500 },
    server: SERVER,
    p1: [{ enc: 'aes128', hash: 'sha1', group: 2 }],
    ...extra,
  });
}

export const sends = (out: IkeOutput[]): SendOutput[] => out.filter((o): o is SendOutput => o.type === 'send');
export const logs = (out: IkeOutput[], event: string): IkeOutput[] => out.filter((o) => o.type === 'log' && o.event === event);

export function only(out: IkeOutput[]): SendOutput {
  const s = sends(out);
  if (s.length !== 1) throw new Error(`expected one datagram, got ${s.length}: ${JSON.stringify(out.filter((o) => o.type === 'log'))}`);
  return s[0]!;
}

/** Sends a message from the initiator's current source to the current server port. */
export function deliver(r: IkeResponder, i: TestInitiator, msg: Buffer, now: number): IkeOutput[] {
  return r.receive(msg, i.src, i.dst, now);
}

export function mainMode(r: IkeResponder, i: TestInitiator, now = 0): IkeOutput[] {
  i.onMm2(only(deliver(r, i, i.mm1(), now)).data);
  i.onMm4(only(deliver(r, i, i.mm3(), now)).data);
  const out = deliver(r, i, i.mm5(), now);
  const s = only(out);
  i.onMm6(s.data);
  return out;
}

export function quickMode(r: IkeResponder, i: TestInitiator, spec: P2Spec, now = 0): { up: ChildSaUp; keys: ReturnType<TestInitiator['qm3']>['keys']; out: IkeOutput[] } {
  const q = i.qm1(spec);
  i.onQm2(only(deliver(r, i, q.data, now)).data);
  const f = i.qm3(q.mid);
  const out = deliver(r, i, f.data, now);
  const up = out.find((o): o is ChildSaUp => o.type === 'child-sa-up');
  if (!up) throw new Error(`no child-sa-up: ${JSON.stringify(out)}`);
  return { up, keys: f.keys, out };
}
