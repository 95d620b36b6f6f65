import { attr, type Attribute } from './attributes.js';
import type { RadiusRequest } from './client.js';
import { ACCT_AUTHENTIC, ACCT_STATUS_TYPE, ACCT_TERMINATE_CAUSE, CODE } from './dictionary.js';
import { nasAttributes, type NasIdentity } from './mschapv2.js';

/**
 * Accounting-Request builders (RFC 2866; Interim-Update and Gigawords RFC 2869 §2.1,
 * §5.1-5.2): Start at session up, Interim-Update while it lasts, Stop at its end with
 * the counters and the Acct-Terminate-Cause mapped from our end reasons.
 */

export interface AccountingSession {
  /** Acct-Session-Id: unique across restarts and servers (see newAcctSessionId). */
  sessionId: string;
  userName: string;
  framedIpAddress?: string;
  /** Class attributes of the Access-Accept, echoed as they came (RFC 2865 §5.25). */
  classes?: readonly Uint8Array[];
  /** Calling-Station-Id: the client's outer address:port. */
  callingStationId?: string;
  nasPort?: number;
  /** Acct-Authentic: RADIUS (default) or Local (the users file). */
  authentic?: 'radius' | 'local';
}

export interface AccountingCounters {
  /** Seconds since the session came up. */
  sessionTime: number;
  /** From the client (RFC 2866 §5.3 "received from the port"). */
  inputOctets: number;
  outputOctets: number;
  inputPackets: number;
  outputPackets: number;
}

const TWO_32 = 2 ** 32;

function u32(name: string, v: number): Attribute {
  return attr(name, Math.min(0xffffffff, Math.max(0, Math.floor(v))));
}

/** Octets as the low 32 bits and the RFC 2869 §5.1/5.2 Gigawords (times 2^32 wrapped). */
function octets(low: string, giga: string, v: number): Attribute[] {
  const n = Math.max(0, Math.floor(v));
  return [attr(low, n % TWO_32), u32(giga, Math.floor(n / TWO_32))];
}

function common(status: number, s: AccountingSession, nas: NasIdentity, eventTime: number | undefined): Attribute[] {
  const a: Attribute[] = [
    attr('Acct-Status-Type', status),
    attr('Acct-Session-Id', s.sessionId),
    attr('User-Name', s.userName),
    attr('Acct-Authentic', s.authentic === 'local' ? ACCT_AUTHENTIC.Local : ACCT_AUTHENTIC.RADIUS),
    ...nasAttributes(nas),
  ];
  if (s.callingStationId) a.push(attr('Calling-Station-Id', s.callingStationId));
  if (s.nasPort !== undefined) a.push(attr('NAS-Port', s.nasPort));
  if (s.framedIpAddress) a.push(attr('Framed-IP-Address', s.framedIpAddress));
  for (const c of s.classes ?? []) a.push(attr('Class', Buffer.from(c)));
  if (eventTime !== undefined) a.push(u32('Event-Timestamp', eventTime / 1000));
  a.push(attr('Acct-Delay-Time', 0));
  return a;
}

function counted(c: AccountingCounters): Attribute[] {
  return [
    u32('Acct-Session-Time', c.sessionTime),
    ...octets('Acct-Input-Octets', 'Acct-Input-Gigawords', c.inputOctets),
    ...octets('Acct-Output-Octets', 'Acct-Output-Gigawords', c.outputOctets),
    u32('Acct-Input-Packets', c.inputPackets),
    u32('Acct-Output-Packets', c.outputPackets),
  ];
}

/** eventTime: wall-clock ms since the epoch for Event-Timestamp (optional; the host knows it, cores do not). */
export function accountingStart(s: AccountingSession, nas: NasIdentity, eventTime?: number): RadiusRequest {
  return { code: CODE.AccountingRequest, attributes: common(ACCT_STATUS_TYPE.Start, s, nas, eventTime) };
}

export function accountingInterim(s: AccountingSession, nas: NasIdentity, c: AccountingCounters, eventTime?: number): RadiusRequest {
  return { code: CODE.AccountingRequest, attributes: [...common(ACCT_STATUS_TYPE.InterimUpdate, s, nas, eventTime), ...counted(c)] };
}

export function accountingStop(s: AccountingSession, nas: NasIdentity, c: AccountingCounters, terminateCause: number, eventTime?: number): RadiusRequest {
  return { code: CODE.AccountingRequest, attributes: [...common(ACCT_STATUS_TYPE.Stop, s, nas, eventTime), ...counted(c), attr('Acct-Terminate-Cause', terminateCause)] };
}

/**
 * Our session end reasons (history's `reason`, free text from PPP, L2TP, IKE and the
 * daemon) to RFC 2866 §5.10 Acct-Terminate-Cause; first match wins.
 */
export const TERMINATE_CAUSES: readonly (readonly [RegExp, number])[] = [
  [/idle timeout/i, ACCT_TERMINATE_CAUSE.IdleTimeout],
  [/session timeout/i, ACCT_TERMINATE_CAUSE.SessionTimeout],
  [/^admin disconnect|disconnect-request/i, ACCT_TERMINATE_CAUSE.AdminReset],
  [/shutdown|shutting down/i, ACCT_TERMINATE_CAUSE.AdminReboot],
  // the link went away under us: DPD, LCP echoes unanswered, retransmissions exhausted
  [/dpd|no LCP Echo-Reply|timeout|lost|retransmi/i, ACCT_TERMINATE_CAUSE.LostCarrier],
  // the client ended it: LCP Terminate, CDN, StopCCN or an IKE Delete from the peer
  [/deleted by peer|^peer |^LCP finished|^IPCP finished|terminate/i, ACCT_TERMINATE_CAUSE.UserRequest],
  [/authentication/i, ACCT_TERMINATE_CAUSE.UserError],
  [/address pool exhausted|address conflict|static address|too many sessions|no route|internal/i, ACCT_TERMINATE_CAUSE.NASError],
];

export function terminateCause(reason: string): number {
  for (const [re, cause] of TERMINATE_CAUSES) if (re.test(reason)) return cause;
  return ACCT_TERMINATE_CAUSE.NASRequest;
}

/**
 * An Acct-Session-Id unique across restarts and servers without state on disk: 8
 * random octets (the host's CSPRNG) in hex, after an optional prefix (the NAS identifier).
 */
export function newAcctSessionId(random: (n: number) => Buffer, prefix = ''): string {
  const id = random(8).toString('hex').toUpperCase();
  return prefix ? `${prefix}-${id}` : id;
}
