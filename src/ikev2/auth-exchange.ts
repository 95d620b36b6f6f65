import { endpointText } from '../core/sa.js';
import type { EapRemoteVerdict } from './eap/mschapv2-server.js';
import { authFirst, authNext, authResume, type AuthStep } from './ike-auth.js';
import { scheduleIkeRekey } from './ike-sa-rekey.js';
import { suiteLabel } from './policy.js';
import type { ResponderCore } from './responder-core.js';
import { NotifyType, PayloadType } from './wire/constants.js';
import type { IkeHeader } from './wire/header.js';
import { allPayloads, type PayloadChain } from './wire/message.js';
import { notify } from './wire/notify.js';
import type { Ikev2Output, Ikev2Sa } from './types.js';

/**
 * IKE_AUTH on the responder's side (the exchange itself is in ike-auth.ts): the
 * first request and the EAP round trips, a request whose EAP Response waits for a
 * remote verifier (RADIUS), MOBIKE_SUPPORTED in the answer that completes the SA,
 * and the SA going ESTABLISHED with its first child.
 */
export function ikeAuth(c: ResponderCore, sa: Ikev2Sa, h: IkeHeader, request: Buffer, inner: PayloadChain, now: number): void {
  const cfg = c.authCfg;
  if (!cfg) return c.answer(sa, h, request, { payloads: [{ type: PayloadType.N, value: notify(NotifyType.AUTHENTICATION_FAILED) }], fail: 'IKE_AUTH is not configured' });
  if (sa.authWaiting) {
    // the client's retransmission while RADIUS decides: asked once, answered once (by eapResult)
    c.counters.inc('ikev2.auth.retransmit-while-pending');
    return;
  }
  let step: AuthStep;
  if (!sa.auth) {
    const first = authFirst(cfg, sa, inner, c.random, now, () => c.newSpi());
    step = first.step;
    if (first.state) {
      sa.auth = first.state;
      sa.state = 'AUTH';
    }
    // RFC 4555 §3.3: the client announces MOBIKE in its first IKE_AUTH request
    if (first.state && allPayloads(inner, PayloadType.N).some((n) => n.type === NotifyType.MOBIKE_SUPPORTED)) sa.mobikeOffered = true;
  } else {
    step = authNext(cfg, sa, sa.auth, inner, () => c.newSpi());
  }
  if (step.pending) {
    sa.authWaiting = { h, request };
    return;
  }
  authAnswered(c, sa, h, request, step, now);
}

/**
 * The remote verifier's answer for the IKE SA `saId` (its pending EAP Response): the
 * IKE_AUTH response that request was waiting for. Nothing when the SA is gone or was
 * not waiting. Never throws.
 */
export function eapResult(c: ResponderCore, saId: string, verdict: EapRemoteVerdict, now: number): Ikev2Output[] {
  c.out = [];
  const sa = [...c.sas.values()].find((x) => x.id === saId && x.authWaiting !== undefined);
  const w = sa?.authWaiting;
  if (!sa || !w || !sa.auth) return [];
  sa.authWaiting = undefined;
  try {
    authAnswered(c, sa, w.h, w.request, authResume(sa.auth, verdict), now);
  } catch (e) {
    c.drop('internal-error', now, sa.peer, { error: e instanceof Error ? e.message : String(e) }, 'ikev2.internal.error');
  }
  return c.out;
}

function authAnswered(c: ResponderCore, sa: Ikev2Sa, h: IkeHeader, request: Buffer, step: AuthStep, now: number): void {
  const up = step.established;
  if (up && !step.fail && sa.mobikeOffered && c.mobike) {
    // ... and the responder answers in the IKE_AUTH response that completes the SA
    step.payloads.push({ type: PayloadType.N, value: notify(NotifyType.MOBIKE_SUPPORTED) });
    sa.mobike = true;
  }
  c.answer(sa, h, request, step);
  if (up && !step.fail) {
    c.leaveHalfOpen(sa);
    sa.state = 'ESTABLISHED';
    sa.user = up.user;
    sa.virtualIp = up.virtualIp;
    scheduleIkeRekey(c, sa, now);
    c.counters.inc('ikev2.established');
    c.log('info', 'ikev2.established', { id: sa.id, peer: endpointText(sa.peer), user: up.user, virtualIp: up.virtualIp, child: up.child?.ikeAlgorithms, mobike: sa.mobike === true });
    c.out.push({ type: 'ikev2-sa-up', id: sa.id, peer: { ...sa.peer }, user: up.user, virtualIp: up.virtualIp, suite: suiteLabel(sa.suite) });
    if (up.child) {
      sa.children.set(up.child.inbound.spi, { id: up.child.id, ourSpi: up.child.inbound.spi, peerSpi: up.child.outbound.spi, transform: up.child.transform, created: now });
      c.out.push(up.child);
    }
  }
}
