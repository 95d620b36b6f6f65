/**
 * A small PPP client for the tests, behaving like Linux pppd 2.4.9 with
 * refuse-pap refuse-chap refuse-eap noccp noauth usepeerdns mtu 1400 mru 1400,
 * plus variants: 'windows' (asks for IPv6CP, CCP and NBNS), 'macos' (IPCP
 * ConfReq without IP-Address). It is an independent implementation of the
 * peer side: its MS-CHAPv2 answer is computed with @noble/hashes' SHA-1 and
 * our MD4/DES only through generateNTResponse, and it checks the server's
 * authenticator response (mutual authentication).
 */
import { sha1 } from '@noble/hashes/legacy.js';
import { generateNTResponse, ntPasswordHash, md4 } from '../../src/ppp/index.js';

export type ClientKind = 'pppd' | 'windows' | 'macos' | 'macos-never-address';

export interface ClientOptions {
  kind?: ClientKind;
  user: string;
  password: string;
  /** Passwords for retries after a Failure with R=1 (Windows prompts the user). */
  retryPasswords?: string[];
  /** Nak the server's Authentication-Protocol asking for this instead (downgrade attempt). */
  wantAuth?: 'pap' | 'chap-md5';
  mru?: number;
  /** The IP-Address the client asks for first (default 0.0.0.0). */
  requestAddress?: string;
  /** Nak the server's IPCP IP-Address forever (a non-converging peer). */
  ipcpNakServer?: boolean;
}

const u16 = (v: number): number[] => [(v >> 8) & 255, v & 255];

export function frame(protocol: number, code: number, id: number, data: Uint8Array | number[]): Buffer {
  const d = Buffer.from(data);
  return Buffer.concat([Buffer.from([0xff, 0x03, ...u16(protocol), code, id, ...u16(d.length + 4)]), d]);
}

export function opt(type: number, data: number[] | Uint8Array): number[] {
  return [type, 2 + data.length, ...data];
}

function parseOpts(d: Uint8Array): Array<{ type: number; data: Buffer }> {
  const out: Array<{ type: number; data: Buffer }> = [];
  let i = 0;
  while (i + 2 <= d.length) {
    const len = d[i + 1]!;
    if (len < 2 || i + len > d.length) break;
    out.push({ type: d[i]!, data: Buffer.from(d.subarray(i + 2, i + len)) });
    i += len;
  }
  return out;
}

/** RFC 2759 §8.7 computed independently (noble SHA-1) to check the server's S= string. */
function expectedAuthenticatorResponse(password: string, nt: Uint8Array, peerChal: Uint8Array, authChal: Uint8Array, user: string): string {
  const m1 = Buffer.from('Magic server to client signing constant');
  const m2 = Buffer.from('Pad to make it do more than one iteration');
  const hh = md4(ntPasswordHash(password));
  const digest = sha1(Buffer.concat([hh, nt, m1]));
  const ch = sha1(Buffer.concat([peerChal, authChal, Buffer.from(user)])).subarray(0, 8);
  return 'S=' + Buffer.from(sha1(Buffer.concat([digest, ch, m2]))).toString('hex').toUpperCase();
}

export class TestClient {
  readonly kind: ClientKind;
  lcpAckSent = false;
  lcpAckRcvd = false;
  authOk = false;
  authFailures: string[] = [];
  ipcpAckSent = false;
  ipcpAckRcvd = false;
  address = '0.0.0.0';
  dns: string[] = ['0.0.0.0', '0.0.0.0'];
  wantNbns = true;
  /** pppd asks for Van Jacobson compression unless novj. */
  wantVj = true;
  /** Primary and secondary DNS (RFC 1877) until the server rejects them. */
  wantDns = [true, true];
  terminated = false;
  terminateMessage = '';
  protocolRejects: number[] = [];
  serverMru = 1500;
  serverIpcpAddress = '';
  mutualAuthOk = false;
  echoReplies = 0;
  echoRequests = 0;
  private lcpId = 0;
  private ipcpId = 0;
  private magic = 0x11223344;
  private readonly mru: number;
  private lcpOpts = { accm: true, pfc: true, acfc: true, magic: true, mru: true };
  private ipcpAskedAddress: boolean;
  private pending: { peerChal: Buffer; nt: Buffer; authChal: Buffer; password: string } | undefined;
  private passwords: string[];
  private ncpStarted = false;
  private lastResponse: Buffer | undefined;

  constructor(private readonly o: ClientOptions) {
    this.kind = o.kind ?? 'pppd';
    this.mru = o.mru ?? 1400;
    this.ipcpAskedAddress = this.kind === 'pppd' || this.kind === 'windows';
    this.passwords = [o.password, ...(o.retryPasswords ?? [])];
    if (o.requestAddress) this.address = o.requestAddress;
  }

  get lcpOpened(): boolean {
    return this.lcpAckSent && this.lcpAckRcvd;
  }
  get ipcpOpened(): boolean {
    return this.ipcpAckSent && this.ipcpAckRcvd;
  }

  /** Forget NCP state (before an LCP renegotiation). */
  resetNcps(): void {
    this.ncpStarted = false;
    this.authOk = false;
  }

  start(): Buffer[] {
    return [this.lcpRequest()];
  }

  /** What pppd's restart timer sends again while a Configure-Request is unanswered (RFC 1661 §4.6). */
  retransmit(): Buffer[] {
    if (this.terminated) return [];
    if (!this.lcpAckRcvd) return [this.lcpRequest()];
    // the Success was lost: the same Response again (the authenticator resends its answer, RFC 1994 §4.1)
    if (!this.authOk && this.lastResponse) return [this.lastResponse];
    if (this.authOk && !this.ipcpAckRcvd) return [this.ipcpRequest()];
    return [];
  }

  private lcpRequest(): Buffer {
    const d: number[] = [];
    if (this.lcpOpts.mru) d.push(...opt(1, u16(this.mru)));
    if (this.lcpOpts.accm) d.push(...opt(2, [0, 0, 0, 0]));
    if (this.lcpOpts.magic) d.push(...opt(5, [(this.magic >>> 24) & 255, (this.magic >> 16) & 255, (this.magic >> 8) & 255, this.magic & 255]));
    if (this.lcpOpts.pfc) d.push(...opt(7, []));
    if (this.lcpOpts.acfc) d.push(...opt(8, []));
    return frame(0xc021, 1, ++this.lcpId, d);
  }

  private ipcpRequest(): Buffer {
    const d: number[] = [];
    if (this.kind === 'pppd' && this.wantVj) d.push(...opt(2, [0x00, 0x2d, 0x0f, 0x01]));
    if (this.ipcpAskedAddress) d.push(...opt(3, this.address.split('.').map(Number)));
    if (this.wantDns[0]) d.push(...opt(129, this.dns[0]!.split('.').map(Number)));
    if (this.kind === 'windows' && this.wantNbns) d.push(...opt(130, [0, 0, 0, 0]));
    if (this.wantDns[1]) d.push(...opt(131, this.dns[1]!.split('.').map(Number)));
    if (this.kind === 'windows' && this.wantNbns) d.push(...opt(132, [0, 0, 0, 0]));
    return frame(0x8021, 1, ++this.ipcpId, d);
  }

  /** Feed one frame from the server; returns the frames the client sends back. */
  receive(f: Uint8Array): Buffer[] {
    const out: Buffer[] = [];
    const proto = (f[2]! << 8) | f[3]!;
    const code = f[4]!;
    const id = f[5]!;
    const len = (f[6]! << 8) | f[7]!;
    const data = Buffer.from(f.subarray(8, 4 + len));
    if (proto === 0xc021) this.lcp(code, id, data, out);
    else if (proto === 0xc223) this.chap(code, id, data, out);
    else if (proto === 0x8021) this.ipcp(code, id, data, out);
    return out;
  }

  private lcp(code: number, id: number, data: Buffer, out: Buffer[]): void {
    switch (code) {
      case 1: {
        const opts = parseOpts(data);
        const auth = opts.find((o) => o.type === 3);
        if (auth && this.o.wantAuth) {
          const want = this.o.wantAuth === 'pap' ? [0xc0, 0x23] : [0xc2, 0x23, 0x05];
          out.push(frame(0xc021, 3, id, opt(3, want)));
          return;
        }
        // refuse-pap refuse-chap refuse-eap: only MS-CHAPv2 is acceptable.
        if (auth && !(auth.data[0] === 0xc2 && auth.data[1] === 0x23 && auth.data[2] === 0x81)) {
          out.push(frame(0xc021, 3, id, opt(3, [0xc2, 0x23, 0x81])));
          return;
        }
        const mru = opts.find((o) => o.type === 1);
        if (mru) this.serverMru = mru.data.readUInt16BE(0);
        out.push(frame(0xc021, 2, id, data));
        this.lcpAckSent = true;
        return;
      }
      case 2:
        if (id === this.lcpId) this.lcpAckRcvd = true;
        return;
      case 3:
      case 4:
        for (const o of parseOpts(data)) {
          if (code === 4) {
            if (o.type === 1) this.lcpOpts.mru = false;
            if (o.type === 2) this.lcpOpts.accm = false;
            if (o.type === 5) this.lcpOpts.magic = false;
            if (o.type === 7) this.lcpOpts.pfc = false;
            if (o.type === 8) this.lcpOpts.acfc = false;
          } else if (o.type === 5) this.magic = o.data.readUInt32BE(0);
        }
        out.push(this.lcpRequest());
        return;
      case 5:
        this.terminated = true;
        this.terminateMessage = data.toString('utf8');
        out.push(frame(0xc021, 6, id, []));
        return;
      case 8:
        this.protocolRejects.push(data.readUInt16BE(0));
        return;
      case 9: {
        this.echoRequests++;
        const r = Buffer.from(data);
        r.writeUInt32BE(this.magic, 0);
        out.push(frame(0xc021, 10, id, r));
        return;
      }
      case 10:
        this.echoReplies++;
        return;
    }
  }

  private chap(code: number, id: number, data: Buffer, out: Buffer[]): void {
    if (code === 1) {
      this.respond(id, data.subarray(1, 17), out);
    } else if (code === 3 && this.pending) {
      const msg = data.toString('ascii');
      const s = /^(S=[0-9A-F]{40})/.exec(msg)?.[1];
      const p = this.pending;
      this.mutualAuthOk = s === expectedAuthenticatorResponse(p.password, p.nt, p.peerChal, p.authChal, this.o.user);
      this.authOk = true;
      this.startNcps(out);
    } else if (code === 4) {
      const msg = data.toString('ascii');
      this.authFailures.push(msg);
      const c = /C=([0-9A-Fa-f]{32})/.exec(msg)?.[1];
      if (/R=1/.test(msg) && c && this.passwords.length > 1) {
        this.passwords.shift();
        this.respond((id + 1) & 255, Buffer.from(c, 'hex'), out);
      }
    }
  }

  private respond(id: number, authChal: Buffer, out: Buffer[]): void {
    const peerChal = Buffer.alloc(16, 0x42 + this.authFailures.length);
    const password = this.passwords[0]!;
    const nt = generateNTResponse(authChal, peerChal, this.o.user, password);
    this.pending = { peerChal, nt, authChal: Buffer.from(authChal), password };
    const value = Buffer.concat([Buffer.from([49]), peerChal, Buffer.alloc(8), nt, Buffer.from([0]), Buffer.from(this.o.user)]);
    this.lastResponse = frame(0xc223, 2, id, value);
    out.push(this.lastResponse);
  }

  private startNcps(out: Buffer[]): void {
    if (this.ncpStarted) return;
    this.ncpStarted = true;
    out.push(this.ipcpRequest());
    if (this.kind === 'windows') {
      out.push(frame(0x8057, 1, 1, opt(1, [1, 2, 3, 4, 5, 6, 7, 8]))); // IPv6CP Interface-Identifier
      out.push(frame(0x80fd, 1, 1, opt(18, [0, 0, 0, 0x40]))); // CCP MPPE
    }
  }

  private ipcp(code: number, id: number, data: Buffer, out: Buffer[]): void {
    switch (code) {
      case 1: {
        if (this.o.ipcpNakServer) {
          out.push(frame(0x8021, 3, id, opt(3, [192, 168, 0, 1])));
          return;
        }
        const a = parseOpts(data).find((o) => o.type === 3);
        if (a) this.serverIpcpAddress = [...a.data].join('.');
        // RFC 1661 §4.1, RCR in Opened: this-layer-down, Configure-Request again, Configure-Ack
        const renegotiate = this.ipcpOpened;
        out.push(frame(0x8021, 2, id, data));
        this.ipcpAckSent = true;
        if (renegotiate) {
          this.ipcpAckRcvd = false;
          out.push(this.ipcpRequest());
        }
        return;
      }
      case 2:
        if (id === this.ipcpId) this.ipcpAckRcvd = true;
        return;
      case 3:
        for (const o of parseOpts(data)) {
          const v = [...o.data].join('.');
          if (o.type === 3) {
            this.address = v;
            if (this.kind !== 'macos-never-address') this.ipcpAskedAddress = true;
          }
          if (o.type === 129) this.dns[0] = v;
          if (o.type === 131) this.dns[1] = v;
        }
        out.push(this.ipcpRequest());
        return;
      case 4:
        for (const o of parseOpts(data)) {
          if (o.type === 130 || o.type === 132) this.wantNbns = false;
          if (o.type === 2) this.wantVj = false;
          if (o.type === 129) this.wantDns[0] = false;
          if (o.type === 131) this.wantDns[1] = false;
        }
        out.push(this.ipcpRequest());
        return;
      case 5:
        out.push(frame(0x8021, 6, id, []));
        return;
    }
  }
}
