import { attr, getAll, getInteger, getOctets, getText, type Attribute } from './attributes.js';
import type { RadiusRequest, RadiusResult } from './client.js';
import { CODE, FRAMED_PROTOCOL, NAS_PORT_TYPE, SERVICE_TYPE } from './dictionary.js';

/**
 * MS-CHAPv2 through RADIUS (RFC 2548 §2.3): what PPP's authenticator has after the
 * peer's Response (RFC 2759 §4) becomes an Access-Request; the Access-Accept's
 * MS-CHAP2-Success goes to the peer as is, its MS-MPPE keys are the session's (the
 * EAP MSK for IKEv2); an Access-Reject's MS-CHAP-Error is the peer's Failure.
 */

/** Who we are to the RADIUS server (the NAS). */
export interface NasIdentity {
  /** NAS-Identifier (RFC 2865 §5.32). */
  nasIdentifier: string;
  /** NAS-IP-Address (RFC 2865 §5.4), when known. */
  nasIpAddress?: string;
  /** Called-Station-Id (RFC 2865 §5.30): the address:port the client connected to. */
  calledStationId?: string;
}

/** One MS-CHAPv2 Response as PPP's authenticator received it, after its own Challenge. */
export interface MsChapV2Attempt {
  /** The Name field of the Response, as sent (may carry DOMAIN\). */
  userName: string;
  /** The CHAP Identifier of the Response (MS-CHAP2-Response's Ident). */
  ident: number;
  /** Our 16-octet Challenge. */
  authenticatorChallenge: Uint8Array;
  /** The peer's 16-octet Peer-Challenge. */
  peerChallenge: Uint8Array;
  /** The peer's 24-octet NT-Response. */
  ntResponse: Uint8Array;
  /** The Response's Flags octet (0). */
  flags?: number;
  /** Calling-Station-Id (RFC 2865 §5.31): the client's outer address:port. */
  callingStationId?: string;
  /** NAS-Port (RFC 2865 §5.5), e.g. the session's number. */
  nasPort?: number;
}

function check(what: string, b: Uint8Array, n: number): void {
  if (b.length !== n) throw new RangeError(`${what} of ${b.length} octets, not ${n}`);
}

/** The attributes every request about a PPP session carries: who the NAS is and what the service is. */
export function nasAttributes(nas: NasIdentity): Attribute[] {
  const a: Attribute[] = [attr('NAS-Identifier', nas.nasIdentifier)];
  if (nas.nasIpAddress) a.push(attr('NAS-IP-Address', nas.nasIpAddress));
  a.push(attr('NAS-Port-Type', NAS_PORT_TYPE.Virtual));
  if (nas.calledStationId) a.push(attr('Called-Station-Id', nas.calledStationId));
  a.push(attr('Service-Type', SERVICE_TYPE.Framed), attr('Framed-Protocol', FRAMED_PROTOCOL.PPP));
  return a;
}

/**
 * RFC 2548 §2.3.2 MS-CHAP2-Response: Ident (1), Flags (1), Peer-Challenge (16),
 * Reserved (8, zero), Response (24); with MS-CHAP-Challenge (§2.3.3) our Challenge.
 */
export function msChapV2AccessRequest(a: MsChapV2Attempt, nas: NasIdentity): RadiusRequest {
  check('Authenticator Challenge', a.authenticatorChallenge, 16);
  check('Peer-Challenge', a.peerChallenge, 16);
  check('NT-Response', a.ntResponse, 24);
  const response = Buffer.alloc(50);
  response[0] = a.ident & 0xff;
  response[1] = (a.flags ?? 0) & 0xff;
  response.set(a.peerChallenge, 2);
  response.set(a.ntResponse, 26);
  const attributes: Attribute[] = [
    attr('User-Name', a.userName),
    attr('MS-CHAP-Challenge', Buffer.from(a.authenticatorChallenge)),
    attr('MS-CHAP2-Response', response),
    ...nasAttributes(nas),
  ];
  if (a.callingStationId) attributes.push(attr('Calling-Station-Id', a.callingStationId));
  if (a.nasPort !== undefined) attributes.push(attr('NAS-Port', a.nasPort));
  return { code: CODE.AccessRequest, attributes };
}

/** What an Access-Accept grants. */
export interface MsChapV2Grant {
  ok: true;
  /** MS-CHAP2-Success's String ("S=<40 hex digits>", maybe " M=..."), the PPP Success message to send as is. */
  success: string;
  /** MS-MPPE-Send-Key / -Recv-Key, decrypted (the NAS's send and receive keys). */
  sendKey?: Buffer;
  recvKey?: Buffer;
  /** A fixed address for the client (absent for the RFC 2865 §5.8 "NAS selects" values). */
  framedIpAddress?: string;
  /** Seconds. */
  sessionTimeout?: number;
  idleTimeout?: number;
  acctInterimInterval?: number;
  /** Class attributes, each to be echoed in accounting (RFC 2865 §5.25). */
  classes: Buffer[];
  replyMessage?: string;
}

export interface MsChapV2Refusal {
  ok: false;
  /** Why, for our logs. */
  reason: string;
  /** MS-CHAP-Error's String ("E=691 R=0 C=... V=3 M=..."), when the server sent one. */
  error?: string;
  /** The E= code (691 wrong password, 646/647/648/649/709 per RFC 2759 §6). */
  errorCode?: number;
  /** R=1: the server lets the peer try again. */
  retry?: boolean;
  /** The server refused (Access-Reject, or an Accept we cannot use), as opposed to none answering. */
  rejected: boolean;
}

const SUCCESS_RE = /^S=[0-9A-F]{40}( M=.*)?$/s;

/** Read a result for an MS-CHAPv2 Access-Request with this Ident. */
export function parseMsChapV2Result(result: RadiusResult, ident: number): MsChapV2Grant | MsChapV2Refusal {
  if (result.kind === 'timeout') return { ok: false, reason: `no RADIUS server answered (${result.servers.join(', ')})`, rejected: false };
  if (result.kind === 'overload') return { ok: false, reason: 'too many RADIUS requests outstanding', rejected: false };
  if (result.kind === 'invalid') return { ok: false, reason: `cannot ask RADIUS: ${result.reason}`, rejected: true };
  const attrs = result.attributes;
  if (result.kind === 'reject') {
    const raw = getOctets(attrs, 'MS-CHAP-Error');
    const out: MsChapV2Refusal = { ok: false, reason: `Access-Reject from ${result.server}`, rejected: true };
    const reply = getText(attrs, 'Reply-Message');
    if (reply) out.reason += `: ${reply}`;
    if (raw && raw.length > 1) {
      const text = Buffer.from(raw.subarray(1)).toString('latin1');
      out.error = text;
      const e = /(?:^|\s)E=(\d+)/.exec(text);
      const r = /(?:^|\s)R=([01])/.exec(text);
      if (e) out.errorCode = Number(e[1]);
      if (r) out.retry = r[1] === '1';
    }
    return out;
  }
  if (result.kind !== 'accept') return { ok: false, reason: `unexpected ${result.kind} from ${result.server}`, rejected: true };
  const raw = getOctets(attrs, 'MS-CHAP2-Success');
  if (!raw || raw.length < 2) return { ok: false, reason: `Access-Accept from ${result.server} without MS-CHAP2-Success`, rejected: true };
  if (raw[0] !== (ident & 0xff)) return { ok: false, reason: `MS-CHAP2-Success for Ident ${raw[0]}, not ${ident & 0xff}`, rejected: true };
  const success = Buffer.from(raw.subarray(1)).toString('latin1');
  if (!SUCCESS_RE.test(success)) return { ok: false, reason: `malformed MS-CHAP2-Success from ${result.server}`, rejected: true };
  const grant: MsChapV2Grant = { ok: true, success, classes: getAll(attrs, 'Class').map((c) => Buffer.from(c as Uint8Array)) };
  const send = getOctets(attrs, 'MS-MPPE-Send-Key');
  const recv = getOctets(attrs, 'MS-MPPE-Recv-Key');
  if (send) grant.sendKey = Buffer.from(send);
  if (recv) grant.recvKey = Buffer.from(recv);
  const ip = getText(attrs, 'Framed-IP-Address');
  // RFC 2865 §5.8: 255.255.255.254 = the NAS picks one (our pool), 255.255.255.255 = the user may choose (not offered)
  if (ip !== undefined && ip !== '255.255.255.254' && ip !== '255.255.255.255') grant.framedIpAddress = ip;
  const st = getInteger(attrs, 'Session-Timeout');
  if (st !== undefined) grant.sessionTimeout = st;
  const it = getInteger(attrs, 'Idle-Timeout');
  if (it !== undefined) grant.idleTimeout = it;
  const ai = getInteger(attrs, 'Acct-Interim-Interval');
  if (ai !== undefined) grant.acctInterimInterval = ai;
  const rm = getText(attrs, 'Reply-Message');
  if (rm !== undefined) grant.replyMessage = rm;
  return grant;
}
