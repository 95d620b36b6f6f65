import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { attr, decodeAttributes, encodeAttributes, getInteger, type Attribute } from '../../src/radius/attributes.js';
import { signZeroAuthRequest, verifyResponse } from '../../src/radius/crypto.js';
import { CODE, ERROR_CAUSE } from '../../src/radius/dictionary.js';
import { DynAuthServer, type DynAuthOutput } from '../../src/radius/dynauth.js';
import { decodePacket } from '../../src/radius/packet.js';

const SECRET = 'coa-secret';
const FROM = { address: '127.0.0.1', port: 3799 };

function request(code: number, attributes: Attribute[], opts: { id?: number; secret?: string; ma?: boolean } = {}): Buffer {
  return signZeroAuthRequest({ code, identifier: opts.id ?? 1, authenticator: Buffer.alloc(16), attributes: encodeAttributes(attributes) }, Buffer.from(opts.secret ?? SECRET), opts.ma ?? false);
}

const server = (extra = {}): DynAuthServer => new DynAuthServer({ clients: [{ address: '127.0.0.1', secret: SECRET, name: 'radius-1' }], nasIdentifier: 'vpn-1', ...extra });
const sends = (o: DynAuthOutput[]): Buffer[] => o.flatMap((x) => (x.type === 'send' ? [x.datagram] : []));
const reqs = (o: DynAuthOutput[]) => o.flatMap((x) => (x.type === 'request' ? [x] : []));
const drops = (o: DynAuthOutput[]): string[] => o.flatMap((x) => (x.type === 'log' && x.event === 'radius.dynauth.drop' ? [String(x.fields?.reason)] : []));

describe('RFC 5176 Disconnect/CoA (NAS side)', () => {
  it('a Disconnect-Request by Acct-Session-Id becomes a request; the ACK answers with the request authenticator and a Message-Authenticator', () => {
    const s = server();
    const dgram = request(CODE.DisconnectRequest, [attr('Acct-Session-Id', 'sess-1'), attr('User-Name', 'alice')], { id: 9 });
    const o = s.receive(dgram, FROM, 0);
    const [r] = reqs(o);
    expect(r!.request).toMatchObject({ kind: 'disconnect', client: 'radius-1', sessionId: 'sess-1', userName: 'alice' });
    expect(sends(o)).toEqual([]);
    const [ack] = sends(s.answer(r!.token, { ok: true }));
    expect(ack![0]).toBe(CODE.DisconnectACK);
    expect(ack![1]).toBe(9);
    expect(verifyResponse(ack!, dgram.subarray(4, 20), Buffer.from(SECRET))).toEqual({ authenticator: true, messageAuthenticator: 'valid' });
    expect(s.outstanding).toBe(0);
    expect(s.answer(r!.token, { ok: true })).toEqual([]);
  });

  it('a NAK carries the Error-Cause; a CoA-Request gets CoA-NAK', () => {
    const s = server();
    const r = reqs(s.receive(request(CODE.CoARequest, [attr('User-Name', 'bob'), attr('Session-Timeout', 60)]), FROM, 0))[0]!;
    expect(r.request.kind).toBe('coa');
    const [nak] = sends(s.answer(r.token, { ok: false, errorCause: ERROR_CAUSE.UnsupportedService }));
    expect(nak![0]).toBe(CODE.CoANAK);
    expect(getInteger(decodeAttributes(decodePacket(nak!).attributes), 'Error-Cause')).toBe(405);
  });

  it('a retransmission gets the same reply again and is not a second request; a new Identifier is a new request', () => {
    const s = server();
    const dgram = request(CODE.DisconnectRequest, [attr('Acct-Session-Id', 'x')], { id: 4 });
    const r = reqs(s.receive(dgram, FROM, 0))[0]!;
    expect(s.receive(dgram, FROM, 10)).toEqual([]); // still deciding
    const first = sends(s.answer(r.token, { ok: true }));
    const again = s.receive(dgram, FROM, 20);
    expect(reqs(again)).toEqual([]);
    expect(sends(again)).toEqual(first);
    // after the window it is a new request
    expect(reqs(s.receive(dgram, FROM, 31_000)).length).toBe(1);
    expect(reqs(s.receive(request(CODE.DisconnectRequest, [attr('Acct-Session-Id', 'x')], { id: 5 }), FROM, 31_001)).length).toBe(1);
  });

  it('refuses: an unknown source, a wrong secret, a bad or (when required) missing Message-Authenticator, another code', () => {
    const s = server();
    const ok = request(CODE.DisconnectRequest, [attr('Acct-Session-Id', 'x')]);
    expect(drops(s.receive(ok, { address: '127.0.0.2', port: 1 }, 0))).toEqual(['unknown-client']);
    expect(drops(s.receive(request(CODE.DisconnectRequest, [attr('Acct-Session-Id', 'x')], { secret: 'wrong' }), FROM, 0))).toEqual(['bad-authenticator']);
    const withMa = request(CODE.DisconnectRequest, [attr('Acct-Session-Id', 'x')], { ma: true, id: 2 });
    expect(reqs(s.receive(withMa, FROM, 0)).length).toBe(1);
    const strict = server({ requireMessageAuthenticator: true });
    expect(drops(strict.receive(ok, FROM, 0))).toEqual(['no-message-authenticator']);
    expect(reqs(strict.receive(withMa, FROM, 0)).length).toBe(1);
    expect(drops(s.receive(request(CODE.AccountingRequest, [attr('Acct-Session-Id', 'x')]), FROM, 0))).toEqual(['unexpected-code']);
    expect(drops(s.receive(Buffer.from([40, 1, 0]), FROM, 0))).toEqual(['truncated']);
  });

  it('NAKs at once: another NAS named (403), no session named (402), too many outstanding (506)', () => {
    const s = server({ maxOutstanding: 1 });
    const code = (o: DynAuthOutput[]): [number, number | undefined] => {
      const d = sends(o)[0]!;
      return [d[0]!, getInteger(decodeAttributes(decodePacket(d).attributes), 'Error-Cause')];
    };
    expect(code(s.receive(request(CODE.DisconnectRequest, [attr('NAS-Identifier', 'vpn-2'), attr('User-Name', 'a')], { id: 1 }), FROM, 0))).toEqual([CODE.DisconnectNAK, 403]);
    expect(code(s.receive(request(CODE.DisconnectRequest, [attr('NAS-Identifier', 'vpn-1')], { id: 2 }), FROM, 0))).toEqual([CODE.DisconnectNAK, 402]);
    expect(reqs(s.receive(request(CODE.DisconnectRequest, [attr('User-Name', 'a')], { id: 3 }), FROM, 0)).length).toBe(1);
    expect(code(s.receive(request(CODE.DisconnectRequest, [attr('User-Name', 'b')], { id: 4 }), FROM, 0))).toEqual([CODE.DisconnectNAK, 506]);
  });

  it('property: random octets and mutated requests never throw and never become a request', () => {
    const base = request(CODE.DisconnectRequest, [attr('Acct-Session-Id', 'sess'), attr('User-Name', 'u')], { ma: true });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: base.length - 1 }), fc.integer({ min: 1, max: 255 }), (junk, i, x) => {
        const s = server();
        expect(reqs(s.receive(junk, FROM, 0))).toEqual([]);
        const m = Buffer.from(base);
        m[i]! ^= x;
        expect(reqs(s.receive(m, FROM, 0))).toEqual([]);
      }),
      { numRuns: 1000 },
    );
  });
});

const RADCLIENT = '/usr/bin/radclient';
describe.skipIf(!existsSync(RADCLIENT))(existsSync(RADCLIENT) ? "FreeRADIUS's radclient against the NAS side" : 'radclient (SKIPPED: Debian package freeradius-utils not installed)', () => {
  it('radclient disconnect: ACK for a session we have, NAK 503 for one we do not', async () => {
    const core = new DynAuthServer({ clients: [{ address: '127.0.0.1', secret: SECRET }], nasIdentifier: 'vpn-1' });
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const ended: string[] = [];
    const apply = (o: DynAuthOutput[]): void => {
      for (const x of o) {
        if (x.type === 'send') sock.send(x.datagram, x.port, x.address);
        else if (x.type === 'request') {
          // the host: end the session if it exists
          const found = x.request.sessionId === 'sess-1';
          if (found) ended.push(x.request.sessionId!);
          apply(core.answer(x.token, found ? { ok: true } : { ok: false, errorCause: ERROR_CAUSE.SessionContextNotFound }));
        }
      }
    };
    sock.on('message', (m, rinfo) => apply(core.receive(m, { address: rinfo.address, port: rinfo.port }, performance.now())));
    const raddb = mkdtempSync(join(tmpdir(), 'l2tpsec-radclient-'));
    writeFileSync(join(raddb, 'dictionary'), '');
    const radclient = (input: string): Promise<{ code: number | null; out: string }> =>
      new Promise((resolve) => {
        const p = spawn(RADCLIENT, ['-x', '-d', raddb, '-r', '1', '-t', '2', `127.0.0.1:${sock.address().port}`, 'disconnect', SECRET], { stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        p.stdout.on('data', (b: Buffer) => (out += b.toString()));
        p.stderr.on('data', (b: Buffer) => (out += b.toString()));
        p.on('exit', (code) => resolve({ code, out }));
        p.stdin.end(input);
      });
    try {
      const ok = await radclient('Acct-Session-Id = "sess-1"\nNAS-Identifier = "vpn-1"\n');
      expect(ok.out).toMatch(/Received Disconnect-ACK/);
      expect(ended).toEqual(['sess-1']);
      const nak = await radclient('Acct-Session-Id = "nope"\n');
      expect(nak.out).toMatch(/Received Disconnect-NAK/);
      expect(nak.out).toMatch(/Error-Cause = Session-Context-Not-Found/);
    } finally {
      sock.close();
      rmSync(raddb, { recursive: true, force: true });
    }
  });
});
