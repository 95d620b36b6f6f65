import { endpointText, type Endpoint } from '../core/sa.js';
import { ExchangeType, PayloadType, exchangeTypeNames, nameOf, payloadTypeNames } from './wire/constants.js';
import { decodeHeader } from './wire/header.js';
import type { PayloadChain } from './wire/message.js';
import { cookieKey, requestDigest, type ResponderCore } from './core.js';
import { StepContext, type StepFns, type StepState } from './exchange.js';
import { informational, informationalState } from './informational.js';
import { mm1, mm3, mm5 } from './mainmode.js';
import { qm1, qm3, quickModeState } from './quickmode.js';
import type { CachedReply, IkeSa } from './state.js';

/** One step of an exchange the responder answers: which message, in which state, with which payloads. */
export interface ExchangeStep extends StepFns {
  name: string;
  exchange: number;
  state: StepState;
  /** Payload types the message must carry (checked after it is read, before the handler). */
  required: readonly number[];
  /** Payload types it must not carry. */
  forbidden: readonly number[];
}

const { IDENTITY_PROTECTION: MM, QUICK_MODE: QM, INFORMATIONAL: INFO } = ExchangeType;
const { SA, KE, NONCE, ID, HASH } = PayloadType;

/**
 * The IKEv1 responder's steps (RFC 2409 §5.4, §5.5, §5.7). A Phase 2 message
 * (Quick Mode, Informational) is authenticated by its HASH, which must come
 * first: that is part of reading it, not of the payload sets here.
 */
export const EXCHANGE_STEPS: readonly ExchangeStep[] = [
  { name: 'mm1', exchange: MM, state: 'NONE', required: [SA], forbidden: [KE, NONCE, ID, HASH], ...mm1 },
  { name: 'mm3', exchange: MM, state: 'MM2_SENT', required: [KE, NONCE], forbidden: [SA, HASH, ID], ...mm3 },
  { name: 'mm5', exchange: MM, state: 'MM4_SENT', required: [HASH, ID], forbidden: [SA, KE, NONCE], ...mm5 },
  { name: 'qm1', exchange: QM, state: 'QM_NEW', required: [SA, NONCE], forbidden: [], ...qm1 },
  { name: 'qm3', exchange: QM, state: 'QM2_SENT', required: [], forbidden: [], ...qm3 },
  { name: 'informational', exchange: INFO, state: 'ESTABLISHED', required: [], forbidden: [], ...informational },
];

const STEP_BY = new Map(EXCHANGE_STEPS.map((s) => [`${s.exchange}:${s.state}`, s]));

/** The step of an exchange in a state, if the responder has one. */
export function exchangeStep(exchange: number, state: StepState): ExchangeStep | undefined {
  return STEP_BY.get(`${exchange}:${state}`);
}

/** What is wrong with a step's payloads: the first required type missing or forbidden type present. */
export function payloadProblem(step: ExchangeStep, p: PayloadChain): string | undefined {
  for (const t of step.required) if (!p.order.includes(t)) return `missing ${nameOf(payloadTypeNames, t)}`;
  for (const t of step.forbidden) if (p.order.includes(t)) return `forbidden ${nameOf(payloadTypeNames, t)}`;
  return undefined;
}

interface Cached {
  sa: IkeSa;
  cache: CachedReply;
  /** Counter ike.retransmit.<label>. */
  label: string;
  /** The retransmission must come from the address Phase 1 ran with. */
  peerOnly: boolean;
}

/** What an exchange adds around its steps. */
interface ExchangeRules {
  /** The reply cached for a request this message may be a retransmission of. */
  cached(c: StepContext): Cached | undefined;
  /** The state the message's step applies to (guards on the way); undefined when dropped. */
  state(c: StepContext): StepState | undefined;
  /** A message of a state the exchange has no step for. */
  noStep?(c: StepContext): void;
}

const EXCHANGES = new Map<number, ExchangeRules>([
  [
    MM,
    {
      cached(c) {
        if (c.halfOpen) {
          const sa = c.halfOpen;
          return sa.state === 'MM2_SENT' && sa.cache ? { sa, cache: sa.cache, label: 'mm1', peerOnly: true } : undefined;
        }
        const sa = c.sa;
        return sa?.cache ? { sa, cache: sa.cache, label: sa.state, peerOnly: true } : undefined;
      },
      state(c) {
        if (!c.sa) return 'NONE';
        if (c.header.messageId !== 0) return void c.drop('mm-message-id');
        return c.sa.state;
      },
      noStep: (c) => c.drop('mm-after-established', { id: c.ike.id }),
    },
  ],
  [
    QM,
    {
      cached(c) {
        const sa = c.ike;
        const qm = sa.quickModes.get(c.header.messageId);
        return qm ? { sa, cache: qm.cache, label: 'qm1', peerOnly: false } : undefined;
      },
      state: quickModeState,
    },
  ],
  [INFO, { cached: () => undefined, state: informationalState }],
]);

const ZERO_COOKIE = Buffer.alloc(8);

/**
 * One ISAKMP message through the responder: header checks, the SA of its
 * cookies, the cached reply of a retransmitted request (here only, for every
 * exchange), then the step of its exchange and state. Throws DecodeError.
 */
export function dispatch(core: ResponderCore, msg: Uint8Array, from: Endpoint, to: Endpoint, now: number): void {
  if (from.port === 0) return core.drop('source-port-zero', now, from);
  const header = decodeHeader(msg);
  if (header.exchangeType === ExchangeType.AGGRESSIVE) {
    // Aggressive Mode with PSK exposes the key to offline cracking: refused, no reply.
    core.counters.inc('ike.aggressive.refused');
    core.drop('aggressive-mode', now, from, {}, 'ike.aggressive.refused');
    return;
  }
  const c = new StepContext(core, msg, header, from, to, now);
  if (header.responderCookie.equals(ZERO_COOKIE)) {
    if (header.exchangeType !== MM) return core.drop('no-responder-cookie', now, from, { exchange: nameOf(exchangeTypeNames, header.exchangeType) });
    if (header.initiatorCookie.equals(ZERO_COOKIE)) return core.drop('zero-initiator-cookie', now, from);
    c.halfOpen = core.byInitiator.get(`${endpointText(from)}:${header.initiatorCookie.toString('hex')}`);
  } else {
    const sa = core.sas.get(cookieKey(header.initiatorCookie, header.responderCookie));
    if (!sa) return core.drop('unknown-cookies', now, from);
    if (from.address !== sa.peer.address && from.address !== sa.remote.address) return core.drop('wrong-peer-address', now, from, { id: sa.id });
    c.sa = sa;
    core.touched.push(sa);
  }
  const rules = EXCHANGES.get(header.exchangeType);
  if (!rules) return core.drop('unsupported-exchange', now, from, { exchange: nameOf(exchangeTypeNames, header.exchangeType) });
  const hit = rules.cached(c);
  if (hit && hit.cache.request.equals(requestDigest(msg))) {
    if (hit.peerOnly && from.address !== hit.sa.peer.address) return core.drop('retransmit-wrong-peer', now, from);
    core.counters.inc(`ike.retransmit.${hit.label}`);
    core.send(to, from, hit.cache.reply);
    return;
  }
  const state = rules.state(c);
  if (state === undefined) return;
  const step = exchangeStep(header.exchangeType, state);
  if (!step) {
    if (!rules.noStep) throw new Error(`no ${nameOf(exchangeTypeNames, header.exchangeType)} step in state ${state}`);
    return rules.noStep(c);
  }
  runStep(step, c);
}

/** Guard, read, payload table check, handler. */
function runStep(step: ExchangeStep, c: StepContext): void {
  if (step.guard?.(c)) return;
  const read = step.read(c);
  if (!read) return;
  if (payloadProblem(step, read.payloads) !== undefined) {
    if (!step.badPayloads) throw new Error(`step ${step.name} has payload rules but no drop for them`);
    return step.badPayloads(c);
  }
  step.handler(c, read);
}
