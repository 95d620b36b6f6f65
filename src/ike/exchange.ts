import { timingSafeEqual } from 'node:crypto';
import type { Endpoint } from '../core/sa.js';
import { PayloadType } from './wire/constants.js';
import type { IsakmpHeader } from './wire/header.js';
import { decodeMessage, type PayloadChain } from './wire/message.js';
import { open } from './seal.js';
import type { ResponderCore } from './core.js';
import type { IkeSa, IkeSaState, QuickMode } from './state.js';

/**
 * The state an exchange step applies to (steps.ts): 'NONE' before an SA
 * exists (MM1), an IKE SA state for Main Mode and Informational, and for
 * Quick Mode 'QM_NEW' (a QM1) or 'QM2_SENT' (the QM3 of an exchange in progress).
 */
export type StepState = 'NONE' | IkeSaState | 'QM_NEW' | 'QM2_SENT';

/** One received message on its way through the dispatcher. */
export class StepContext {
  /** The IKE SA of the cookies (absent for an MM1). */
  sa: IkeSa | undefined;
  /** For an MM1: the half-open SA an earlier MM1 with the same cookies from the same source made. */
  halfOpen: IkeSa | undefined;
  /** For a QM3: its Quick Mode. */
  qm: QuickMode | undefined;

  constructor(
    readonly core: ResponderCore,
    readonly msg: Uint8Array,
    readonly header: IsakmpHeader,
    readonly from: Endpoint,
    readonly to: Endpoint,
    readonly now: number,
  ) {}

  /** The IKE SA of a step that needs one (every step but MM1). */
  get ike(): IkeSa {
    if (!this.sa) throw new Error('exchange step without its IKE SA');
    return this.sa;
  }

  /** Counts and logs a drop (ResponderCore.drop) of this message; true, for guards. */
  drop(reason: string, fields?: Record<string, unknown>, event?: string): true {
    this.core.drop(reason, this.now, this.from, fields, event);
    return true;
  }
}

/** The payloads of a message, and for an encrypted one the last cipher block (next IV). */
export interface StepRead {
  payloads: PayloadChain;
  nextIv?: Buffer;
}

/** The code of one step; the table entry (steps.ts) adds which exchange, state and payloads. */
export interface StepFns {
  /** Checks on the header and the SA before the payloads are read: true when the message was dropped. */
  guard?: (c: StepContext) => boolean;
  /** Decodes, or decrypts and authenticates, the payloads; undefined when the message was dropped. */
  read: (c: StepContext) => StepRead | undefined;
  /** Drops a message whose payloads miss a required type or carry a forbidden one. */
  badPayloads?: (c: StepContext) => void;
  handler: (c: StepContext, read: StepRead) => void;
}

/** Reads an unencrypted message. Throws DecodeError. */
export function readPlain(c: StepContext): StepRead {
  return { payloads: decodeMessage(c.msg).payloads };
}

function hashEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Reads a Phase 2 message (RFC 2409 §5.5, §5.7): decrypted with `iv`, HASH
 * first and equal to `expected(payloads)`. Drops are named `<prefix>-decrypt`,
 * `<prefix>-no-hash`, `<prefix>-hash-mismatch`. A DecodeError of the
 * decrypted chain propagates to receive(): counted as decode.<reason>.
 */
export function readPhase2(c: StepContext, prefix: string, iv: Buffer, expected: (p: PayloadChain) => Buffer): StepRead | undefined {
  const sa = c.ike;
  const opened = open(sa, c.msg, iv);
  if (!opened) return void c.drop(`${prefix}-decrypt`, { id: sa.id });
  const p = opened.payloads;
  if (p.order[0] !== PayloadType.HASH || !p.hash) return void c.drop(`${prefix}-no-hash`, { id: sa.id });
  if (!hashEqual(p.hash.value.data, expected(p))) return void c.drop(`${prefix}-hash-mismatch`, { id: sa.id });
  return opened;
}
