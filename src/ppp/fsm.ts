import { own } from '../core/bytes.js';
import { logEvent, type LogEvent } from '../core/log.js';
import { CODE, codeName, protocolName } from './names.js';
import { encodeControlFrame } from './frame.js';

/**
 * The RFC 1661 §4 option-negotiation automaton, shared by LCP and IPCP
 * through per-protocol callbacks (the npppd fsm.c shape). The state
 * transition table (§4.1) is data: TRANSITION_TABLE below, in the RFC's own
 * notation, parsed once.
 */

/** RFC 1661 §4.2 states. */
export const STATE = {
  Initial: 0,
  Starting: 1,
  Closed: 2,
  Stopped: 3,
  Closing: 4,
  Stopping: 5,
  ReqSent: 6,
  AckRcvd: 7,
  AckSent: 8,
  Opened: 9,
} as const;
export type FsmState = (typeof STATE)[keyof typeof STATE];
export const STATE_NAMES = ['Initial', 'Starting', 'Closed', 'Stopped', 'Closing', 'Stopping', 'Req-Sent', 'Ack-Rcvd', 'Ack-Sent', 'Opened'] as const;

/** RFC 1661 §4.3 events. */
export const EVENTS = ['Up', 'Down', 'Open', 'Close', 'TO+', 'TO-', 'RCR+', 'RCR-', 'RCA', 'RCN', 'RTR', 'RTA', 'RUC', 'RXJ+', 'RXJ-', 'RXR'] as const;
export type FsmEvent = (typeof EVENTS)[number];

/** RFC 1661 §4.4 actions. */
export const ACTIONS = ['tlu', 'tld', 'tls', 'tlf', 'irc', 'zrc', 'scr', 'sca', 'scn', 'str', 'sta', 'scj', 'ser'] as const;
export type FsmAction = (typeof ACTIONS)[number];

export interface Transition {
  actions: readonly FsmAction[];
  next: FsmState;
}

/**
 * RFC 1661 §4.1 state transition table, copied cell by cell. Columns are the
 * states 0..9. "-" = cannot happen (logged and ignored); the r/p/x suffixes
 * (restart option, passive option, crossed connection) are kept for
 * reference and have no further effect here.
 */
export const TRANSITION_TABLE: Readonly<Record<FsmEvent, readonly string[]>> = {
  //        0 Initial    1 Starting   2 Closed   3 Stopped          4 Closing  5 Stopping 6 Req-Sent   7 Ack-Rcvd   8 Ack-Sent   9 Opened
  Up:      ['2',         'irc,scr/6', '-',       '-',               '-',       '-',       '-',         '-',         '-',         '-'],
  Down:    ['-',         '-',         '0',       'tls/1',           '0',       '1',       '1',         '1',         '1',         'tld/1'],
  Open:    ['tls/1',     '1',         'irc,scr/6', '3r',            '5r',      '5r',      '6',         '7',         '8',         '9r'],
  Close:   ['0',         'tlf/0',     '2',       '2',               '4',       '4',       'irc,str/4', 'irc,str/4', 'irc,str/4', 'tld,irc,str/4'],
  'TO+':   ['-',         '-',         '-',       '-',               'str/4',   'str/5',   'scr/6',     'scr/6',     'scr/8',     '-'],
  'TO-':   ['-',         '-',         '-',       '-',               'tlf/2',   'tlf/3',   'tlf/3p',    'tlf/3p',    'tlf/3p',    '-'],
  'RCR+':  ['-',         '-',         'sta/2',   'irc,scr,sca/8',   '4',       '5',       'sca/8',     'sca,tlu/9', 'sca/8',     'tld,scr,sca/8'],
  'RCR-':  ['-',         '-',         'sta/2',   'irc,scr,scn/6',   '4',       '5',       'scn/6',     'scn/7',     'scn/6',     'tld,scr,scn/6'],
  RCA:     ['-',         '-',         'sta/2',   'sta/3',           '4',       '5',       'irc/7',     'scr/6x',    'irc,tlu/9', 'tld,scr/6x'],
  RCN:     ['-',         '-',         'sta/2',   'sta/3',           '4',       '5',       'irc,scr/6', 'scr/6x',    'irc,scr/8', 'tld,scr/6x'],
  RTR:     ['-',         '-',         'sta/2',   'sta/3',           'sta/4',   'sta/5',   'sta/6',     'sta/6',     'sta/6',     'tld,zrc,sta/5'],
  RTA:     ['-',         '-',         '2',       '3',               'tlf/2',   'tlf/3',   '6',         '6',         '8',         'tld,scr/6'],
  RUC:     ['-',         '-',         'scj/2',   'scj/3',           'scj/4',   'scj/5',   'scj/6',     'scj/7',     'scj/8',     'scj/9'],
  'RXJ+':  ['-',         '-',         '2',       '3',               '4',       '5',       '6',         '6',         '8',         '9'],
  'RXJ-':  ['-',         '-',         'tlf/2',   'tlf/3',           'tlf/2',   'tlf/3',   'tlf/3',     'tlf/3',     'tlf/3',     'tld,irc,str/5'],
  RXR:     ['-',         '-',         '2',       '3',               '4',       '5',       '6',         '7',         '8',         'ser/9'],
};

/** Parses one cell ("irc,scr/6", "3r", "-") into a Transition, or null for "-". */
export function parseCell(cell: string): Transition | null {
  if (cell === '-') return null;
  const m = /^(?:([a-z,]+)\/)?([0-9])[rpx]?$/.exec(cell);
  if (!m) throw new Error(`bad transition cell ${JSON.stringify(cell)}`);
  const actions = m[1] ? m[1].split(',') : [];
  for (const a of actions) if (!(ACTIONS as readonly string[]).includes(a)) throw new Error(`unknown action ${a} in ${cell}`);
  return { actions: actions as FsmAction[], next: Number(m[2]) as FsmState };
}

const TABLE = new Map<FsmEvent, ReadonlyArray<Transition | null>>(EVENTS.map((e) => [e, TRANSITION_TABLE[e].map(parseCell)]));

/** The transition for (state, event); null = "cannot happen". */
export function transition(state: FsmState, event: FsmEvent): Transition | null {
  return TABLE.get(event)?.[state] ?? null;
}

/** What a protocol decides about the peer's Configure-Request. */
export interface RequestVerdict {
  code: typeof CODE.ConfigureAck | typeof CODE.ConfigureNak | typeof CODE.ConfigureReject;
  data: Uint8Array;
}

/** Per-protocol callbacks (LCP, IPCP). */
export interface FsmHandler {
  readonly name: string;
  readonly protocol: number;
  /** Options of our next Configure-Request. */
  buildRequest(): Uint8Array;
  /**
   * Judge the peer's Configure-Request. `rejectInsteadOfNak` is true once
   * Max-Failure Naks were sent (RFC 1661 §4.6). May throw DecodeError: the
   * packet is then dropped without an event.
   */
  checkRequest(data: Uint8Array, rejectInsteadOfNak: boolean): RequestVerdict;
  /** The peer Nak'd (code 3) or Rejected (code 4) our request; a returned string closes the layer with that reason. */
  nakOrRejectReceived(code: 3 | 4, data: Uint8Array): string | undefined;
  thisLayerUp(): void;
  thisLayerDown(): void;
  thisLayerStarted(): void;
  thisLayerFinished(reason: string): void;
  /** Codes beyond 7 (LCP's Protocol-Reject, Echo...): the event they mean, or 'RUC'. */
  classifyExtraCode?(code: number, id: number, data: Uint8Array): FsmEvent;
  /** ser: Send-Echo-Reply (LCP). */
  sendEchoReply?(id: number, data: Uint8Array): void;
}

export interface FsmSink {
  send(frame: Buffer): void;
  log(ev: LogEvent): void;
  /** false: the host drops debug lines, so none are built (one per packet and state change). Default true. */
  debug?: boolean;
}

export interface FsmOptions {
  /** RFC 1661 §4.6 defaults: 3 s, 2, 10, 5. */
  restartMs?: number;
  maxTerminate?: number;
  maxConfigure?: number;
  maxFailure?: number;
  /** Where the peer's MRU is read (LCP's handler), bounding Code-Reject data (RFC 1661 §5.6 truncation); 1500 without one. */
  mru?: { readonly peerMru: number };
}

export interface Received {
  /** The received code, when it matters (RXR: only an Echo-Request gets ser). */
  code?: number;
  id: number;
  data: Uint8Array;
  verdict?: RequestVerdict;
  raw?: Uint8Array;
}

export class Fsm {
  private st: FsmState = STATE.Initial;
  private restartCount = 0;
  private deadline: number | undefined;
  private reqId = 0;
  private lastRequest: Uint8Array | undefined;
  private termId = 0;
  private nakSent = 0;
  private nakReceived = 0;
  private termReason = '';
  private now = 0;
  readonly restartMs: number;
  readonly maxTerminate: number;
  readonly maxConfigure: number;
  readonly maxFailure: number;
  private readonly mru: { readonly peerMru: number } | undefined;
  /** Actions executed by the last event (for tests and debug logs). */
  lastActions: FsmAction[] = [];

  constructor(
    private readonly h: FsmHandler,
    private readonly sink: FsmSink,
    opts: FsmOptions = {},
    initialId = 0,
  ) {
    this.restartMs = opts.restartMs ?? 3000;
    this.maxTerminate = opts.maxTerminate ?? 2;
    this.maxConfigure = opts.maxConfigure ?? 10;
    this.maxFailure = opts.maxFailure ?? 5;
    this.mru = opts.mru;
    this.reqId = initialId & 0xff;
    this.termId = (initialId + 128) & 0xff;
  }

  get state(): FsmState {
    return this.st;
  }

  get stateName(): string {
    return STATE_NAMES[this.st];
  }

  get restartCounter(): number {
    return this.restartCount;
  }

  nextDeadline(): number | undefined {
    return this.deadline;
  }

  /** Test hook: put the automaton in a state without running actions. */
  forceState(s: FsmState, now = 0): void {
    this.st = s;
    this.now = now;
    this.deadline = s >= STATE.Closing && s <= STATE.AckSent ? now + this.restartMs : undefined;
  }

  up(now: number): void {
    this.now = now;
    this.dispatch('Up');
  }

  down(now: number): void {
    this.now = now;
    this.dispatch('Down');
  }

  open(now: number): void {
    this.now = now;
    this.dispatch('Open');
  }

  close(reason: string, now: number): void {
    this.now = now;
    this.termReason = reason;
    this.dispatch('Close');
  }

  tick(now: number): void {
    this.now = now;
    if (this.deadline === undefined || now < this.deadline) return;
    this.deadline = undefined;
    if (this.restartCount > 0) return this.dispatch('TO+');
    if (this.st >= STATE.ReqSent && !this.termReason) this.termReason = `${this.h.name} timeout: no answer to Configure-Request`;
    this.dispatch('TO-');
  }

  /** A control packet of this protocol (already decoded). May throw DecodeError from checkRequest (drop). */
  receive(code: number, id: number, data: Uint8Array, raw: Uint8Array, now: number): void {
    this.now = now;
    switch (code) {
      case CODE.ConfigureRequest: {
        const ctx: Received = { id, data };
        const s = this.st;
        if (s === STATE.Stopped || s >= STATE.ReqSent) {
          ctx.verdict = this.h.checkRequest(data, this.nakSent >= this.maxFailure);
        }
        const ev: FsmEvent = ctx.verdict === undefined || ctx.verdict.code === CODE.ConfigureAck ? 'RCR+' : 'RCR-';
        this.dispatch(ev, ctx);
        return;
      }
      case CODE.ConfigureAck: {
        if (!this.matchesRequest(id)) return this.drop('ack-id-mismatch', code, id);
        if (!this.lastRequest || !sameBytes(this.lastRequest, data)) return this.drop('ack-options-mismatch', code, id);
        this.nakReceived = 0;
        this.dispatch('RCA', { id, data });
        return;
      }
      case CODE.ConfigureNak:
      case CODE.ConfigureReject: {
        if (!this.matchesRequest(id)) return this.drop('nak-id-mismatch', code, id);
        // Only meaningful while negotiating; in other states the table answers with sta or nothing.
        if (this.st >= STATE.ReqSent) {
          const stop = this.h.nakOrRejectReceived(code, data);
          if (stop !== undefined) return this.close(stop, now);
          if (++this.nakReceived > this.maxFailure) {
            return this.close(`${this.h.name} negotiation did not converge (${this.nakReceived} Nak/Reject received)`, now);
          }
        }
        this.dispatch('RCN', { id, data });
        return;
      }
      case CODE.TerminateRequest:
        this.dispatch('RTR', { id, data });
        return;
      case CODE.TerminateAck:
        this.dispatch('RTA', { id, data });
        return;
      case CODE.CodeReject: {
        // RFC 1661 §5.6: rejecting a code we need (1–7) is catastrophic (RXJ-).
        const rejected = data.length > 0 ? data[0]! : 0;
        const catastrophic = rejected >= 1 && rejected <= 7;
        if (catastrophic && !this.termReason) this.termReason = `peer rejected ${this.h.name} ${codeName(rejected)}`;
        this.dispatch(catastrophic ? 'RXJ-' : 'RXJ+', { id, data });
        return;
      }
      default: {
        const ev = this.h.classifyExtraCode ? this.h.classifyExtraCode(code, id, data) : 'RUC';
        this.dispatch(ev, { code, id, data, raw });
      }
    }
  }

  /** The peer Protocol-Rejected this protocol (RFC 1661 §5.7): RXJ-. */
  protocolRejected(reason: string, now: number): void {
    this.now = now;
    if (!this.termReason) this.termReason = reason;
    this.dispatch('RXJ-');
  }

  /** Run one event through the table. Public so tests can drive every cell. */
  dispatch(event: FsmEvent, ctx?: Received): void {
    const from = this.st;
    const t = transition(from, event);
    this.lastActions = [];
    if (t === null) {
      this.sink.log(logEvent('debug', 'ppp.fsm.illegal-event', { protocol: this.h.name, state: STATE_NAMES[from], event }));
      return;
    }
    this.lastActions = [...t.actions];
    for (let i = 0; i < t.actions.length; i++) {
      this.run(t.actions[i]!, t.actions[i + 1], ctx);
    }
    this.st = t.next;
    if (!(t.next >= STATE.Closing && t.next <= STATE.AckSent)) this.deadline = undefined;
    if (from !== t.next && this.sink.debug !== false) {
      this.sink.log(logEvent('debug', 'ppp.fsm.state', { protocol: this.h.name, event, from: STATE_NAMES[from], to: STATE_NAMES[t.next] }));
    }
    // Callbacks run in order inside run(); tlu/tlf are announced after the state is set.
    if (t.actions.includes('tlu')) this.h.thisLayerUp();
    if (t.actions.includes('tlf')) this.h.thisLayerFinished(this.termReason || `${this.h.name} finished`);
  }

  private run(a: FsmAction, next: FsmAction | undefined, ctx: Received | undefined): void {
    switch (a) {
      case 'tlu':
        this.termReason = '';
        this.nakSent = 0;
        this.nakReceived = 0;
        return; // announced after the state change
      case 'tld':
        this.h.thisLayerDown();
        return;
      case 'tls':
        this.h.thisLayerStarted();
        return;
      case 'tlf':
        return; // announced after the state change
      case 'irc':
        // RFC 1661 §4.4: Max-Terminate before a Terminate-Request, else Max-Configure.
        this.restartCount = next === 'str' ? this.maxTerminate : this.maxConfigure;
        return;
      case 'zrc':
        this.restartCount = 0;
        this.deadline = this.now + this.restartMs;
        return;
      case 'scr': {
        this.reqId = (this.reqId + 1) & 0xff;
        // own memory: kept while the link is up (a pooled slice would keep its whole 8 KiB slab)
        this.lastRequest = own(this.h.buildRequest());
        this.restartCount--;
        this.deadline = this.now + this.restartMs;
        this.emit(CODE.ConfigureRequest, this.reqId, this.lastRequest);
        return;
      }
      case 'sca':
        if (ctx) {
          this.nakSent = 0;
          this.emit(CODE.ConfigureAck, ctx.id, ctx.verdict?.data ?? ctx.data);
        }
        return;
      case 'scn':
        if (ctx?.verdict) {
          if (ctx.verdict.code === CODE.ConfigureNak) this.nakSent++;
          this.emit(ctx.verdict.code, ctx.id, ctx.verdict.data);
        }
        return;
      case 'str': {
        this.termId = (this.termId + 1) & 0xff;
        this.restartCount--;
        this.deadline = this.now + this.restartMs;
        this.emit(CODE.TerminateRequest, this.termId, Buffer.from(this.termReason, 'utf8'));
        return;
      }
      case 'sta':
        if (ctx) this.emit(CODE.TerminateAck, ctx.id, new Uint8Array(0));
        return;
      case 'scj':
        if (ctx?.raw) {
          // RFC 1661 §5.6: the rejected packet, truncated to fit the peer's MRU.
          this.emit(CODE.CodeReject, (this.termId = (this.termId + 1) & 0xff), ctx.raw.subarray(0, Math.max(0, (this.mru?.peerMru ?? 1500) - 4)));
        }
        return;
      case 'ser':
        // RXR covers Echo-Reply, Discard-Request, Identification...: only an Echo-Request is answered.
        if (ctx && this.h.sendEchoReply && (ctx.code === undefined || ctx.code === CODE.EchoRequest)) this.h.sendEchoReply(ctx.id, ctx.data);
        return;
    }
  }

  private matchesRequest(id: number): boolean {
    return this.lastRequest !== undefined && id === this.reqId;
  }

  private drop(reason: string, code: number, id: number): void {
    this.sink.log(logEvent('debug', 'ppp.fsm.drop', { protocol: this.h.name, reason, code: codeName(code), id, expected: this.reqId }));
  }

  private emit(code: number, id: number, data: Uint8Array): void {
    this.sink.send(encodeControlFrame(this.h.protocol, code, id, data));
    if (this.sink.debug !== false) this.sink.log(logEvent('debug', 'ppp.send', { protocol: protocolName(this.h.protocol), code: codeName(code), id, length: data.length + 4 }));
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
