import { getAll, getInteger, getText, parseMsChapV2Result, type RadiusResult } from '../radius/index.js';
import type { EapRemoteAttempt, EapVerdict, RemoteAttempt, RemoteVerdict } from '../session/index.js';

/**
 * A RADIUS result read into what a login gets: the verdict for PPP or for IKEv2's EAP,
 * and what accounting keeps of an Access-Accept (Class, Acct-Interim-Interval). Pure.
 * 'unavailable' (no server answered, too many outstanding) is not a refusal: the users
 * file may decide when the fallback is on.
 */

/** What an Access-Accept granted that accounting needs later. */
export interface Granted {
  classes: Buffer[];
  interim?: number;
  authentic: 'radius' | 'local';
}

/** RFC 2865 §5.8: 255.255.255.254 = the NAS picks (our pool), 255.255.255.255 = the user may choose (not offered). */
const usable = (ip: string | undefined): string | undefined => (ip !== undefined && ip !== '255.255.255.254' && ip !== '255.255.255.255' ? ip : undefined);

function unanswered(result: Extract<RadiusResult, { kind: 'timeout' | 'overload' }>): { kind: 'unavailable'; reason: string } {
  return { kind: 'unavailable', reason: result.kind === 'timeout' ? `no RADIUS server answered (${result.servers.join(', ')})` : 'too many RADIUS requests outstanding' };
}

/** PPP: MS-CHAPv2 (the MS-CHAP2-Success to send as is) or PAP (Accept or not). */
export function pppVerdict(attempt: RemoteAttempt, result: RadiusResult): { verdict: RemoteVerdict; granted?: Granted } {
  if (attempt.method === 'mschapv2') {
    const r = parseMsChapV2Result(result, attempt.ident);
    if (!r.ok) return { verdict: r.rejected ? { kind: 'reject', reason: r.reason } : { kind: 'unavailable', reason: r.reason } };
    const grant = {
      ...(r.framedIpAddress !== undefined ? { address: r.framedIpAddress } : {}),
      ...(r.sessionTimeout !== undefined ? { sessionTimeout: r.sessionTimeout } : {}),
      ...(r.idleTimeout !== undefined ? { idleTimeout: r.idleTimeout } : {}),
    };
    return { verdict: { kind: 'accept', success: r.success, grant }, granted: { classes: r.classes, authentic: 'radius', ...(r.acctInterimInterval !== undefined ? { interim: r.acctInterimInterval } : {}) } };
  }
  if (result.kind === 'timeout' || result.kind === 'overload') return { verdict: unanswered(result) };
  if (result.kind !== 'accept') {
    return { verdict: { kind: 'reject', reason: result.kind === 'invalid' ? result.reason : `Access-${result.kind === 'reject' ? 'Reject' : result.kind === 'challenge' ? 'Challenge' : result.kind} from ${result.server}` } };
  }
  const a = result.attributes;
  const ip = usable(getText(a, 'Framed-IP-Address'));
  const st = getInteger(a, 'Session-Timeout');
  const it = getInteger(a, 'Idle-Timeout');
  const ai = getInteger(a, 'Acct-Interim-Interval');
  return {
    verdict: {
      kind: 'accept',
      grant: { ...(ip !== undefined ? { address: ip } : {}), ...(st !== undefined ? { sessionTimeout: st } : {}), ...(it !== undefined ? { idleTimeout: it } : {}) },
    },
    granted: { classes: getAll(a, 'Class').map((c) => Buffer.from(c as Uint8Array)), authentic: 'radius', ...(ai !== undefined ? { interim: ai } : {}) },
  };
}

/**
 * IKEv2 EAP-MSCHAPv2: the Success String, and the MSK made of the MPPE keys as the
 * server sees them, receive key then send key, then 32 zero octets (src/core/mschap/mppe.ts,
 * as strongSwan and Windows compute it). An Accept without both keys cannot finish IKE_AUTH.
 */
export function eapVerdict(attempt: EapRemoteAttempt, result: RadiusResult): { verdict: EapVerdict; granted?: Granted } {
  const r = parseMsChapV2Result(result, attempt.ident);
  if (!r.ok) return { verdict: r.rejected ? { kind: 'reject', reason: r.reason } : { kind: 'unavailable', reason: r.reason } };
  if (!r.sendKey || !r.recvKey || r.sendKey.length < 16 || r.recvKey.length < 16) {
    return { verdict: { kind: 'reject', reason: `Access-Accept from ${result.kind === 'accept' ? result.server : '?'} without MS-MPPE keys (the EAP MSK)` } };
  }
  const msk = Buffer.concat([r.recvKey.subarray(0, 16), r.sendKey.subarray(0, 16), Buffer.alloc(32)]);
  return {
    verdict: {
      kind: 'accept',
      success: r.success,
      msk,
      ...(r.framedIpAddress !== undefined ? { address: r.framedIpAddress } : {}),
      ...(r.sessionTimeout !== undefined ? { sessionTimeout: r.sessionTimeout } : {}),
      ...(r.idleTimeout !== undefined ? { idleTimeout: r.idleTimeout } : {}),
    },
    granted: { classes: r.classes, authentic: 'radius', ...(r.acctInterimInterval !== undefined ? { interim: r.acctInterimInterval } : {}) },
  };
}
