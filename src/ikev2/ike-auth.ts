import type { KeyObject } from 'node:crypto';
import type { ChildSaUp, Endpoint } from '../core/sa.js';
import { sharedKeyAuth, signedOctets, verifySharedKeyAuth } from './crypto/auth.js';
import { childKeys } from './crypto/keys.js';
import { signAuth } from './crypto/signature.js';
import { childReply, childSaUp, DEFAULT_CHILD_POLICY, selectChildProposal, type ChildPolicy } from './child-policy.js';
import { cpReply, cpWants } from './cp-reply.js';
import { EapMschapv2Server, type EapMschapv2Hooks, type EapRemoteAttempt, type EapRemoteVerdict, type EapStep } from './eap/mschapv2-server.js';
import { FULL_TUNNEL, narrowTrafficSelectors, type Ipv4Range } from './ts-narrow.js';
import { AuthMethod, authMethodNames, CertEncoding, IdType, nameOf, NotifyType, PayloadType } from './wire/constants.js';
import { encodeId, idToString, type IdPayload } from './wire/id.js';
import { findPayload, type PayloadChain, type Payload } from './wire/message.js';
import { notify } from './wire/notify.js';
import type { Ikev2Sa } from './types.js';

/**
 * IKE_AUTH with a server certificate and EAP-MSCHAPv2 (RFC 7296 §1.2, §2.15, §2.16):
 *
 *   HDR, SK {IDi, [CERTREQ,] [IDr,] SAi2, TSi, TSr, [CP(CFG_REQUEST)]}   (no AUTH: EAP wanted)
 *   HDR, SK {IDr, CERT+, AUTH(signature), EAP(Request/Identity)}
 *   HDR, SK {EAP} ...  HDR, SK {EAP}                                      (EAP-MSCHAPv2 rounds)
 *   HDR, SK {AUTH(MSK)}
 *   HDR, SK {AUTH(MSK), CP(CFG_REPLY), SAr2, TSi, TSr}
 *
 * The first child SA takes KEYMAT = prf+(SK_d, Ni | Nr). Only the EAP machine's own
 * success hands out an MSK, and only an AUTH computed with that MSK over the
 * initiator's signed octets establishes the SA; everything else ends with
 * AUTHENTICATION_FAILED and the SA deleted.
 *
 * Or with a per-user pre-shared key (AUTH method 2, "Shared Key Message Integrity Code"):
 *
 *   HDR, SK {IDi, AUTH(psk), SAi2, TSi, TSr, [IDr,] [CP(CFG_REQUEST)]}
 *   HDR, SK {IDr, AUTH(psk), CP(CFG_REPLY), SAr2, TSi, TSr}
 *
 * There is no group key: IDi (ID_KEY_ID, ID_FQDN, ID_RFC822_ADDR or ID_IPV4_ADDR, its
 * text the user's name) selects the user and that user's key, which checks the client's
 * AUTH and then keys ours, so a key opens one account and can impersonate the server to
 * that user alone. §2.16: an AUTH payload in the first request means the client does not
 * want EAP, so it is taken as the client's authentication: method 2 is checked with the
 * user's key; any other method, an unknown identity, a user without a key or a wrong key
 * all end with AUTHENTICATION_FAILED (no fallback to EAP). The unknown and the keyless
 * compute the same MIC against a dummy key: the answer and the work are the same.
 */
export interface Ikev2AuthConfig {
  /** Our certificate chain, DER, the server's own first. */
  certificates: Buffer[];
  privateKey: KeyObject;
  /** Our IDr (ID_FQDN of the certificate's name, or ID_DER_ASN1_DN of its subject). */
  localId: IdPayload;
  /** Name in the MS-CHAPv2 Challenge. */
  serverName: string;
  /** Users (NT hashes), admission (session limits) and the failed-login backoff by user and peer address (shared with PPP). */
  users: Pick<EapMschapv2Hooks, 'lookup' | 'admit'> & {
    backoff?: { blockedFor(name: string, address: string): number; failure(name: string, address: string): void; success(name: string): void };
  };
  /** An address of the pool for the user (the static one of the users file, or the one asked for when free); undefined when the pool is empty. */
  assignAddress(user: string, requested: string | undefined, saId?: string): string | undefined;
  /** Passwords checked by a remote verifier (RADIUS), asked per IKE SA (src/session/ikev2.ts wires it); the answer goes to the responder's eapResult. */
  remote?: { request(saId: string, attempt: EapRemoteAttempt, peer: Endpoint): void; localFallback: boolean };
  dns: string[];
  /** Our side of the tunnel (default: everything). */
  localNetworks?: Ipv4Range[];
  childPolicy?: ChildPolicy;
  /** RFC 7427 with RSA keys: RSASSA-PSS (default) or PKCS#1 v1.5. */
  rsaPss?: boolean;
  /** Child SA lifetime announced to the ESP layer, default 28800 s. */
  childLifetimeSeconds?: number;
  /** Per-user IKEv2 pre-shared keys; absent: a client's AUTH payload is refused (EAP only). */
  psk?: {
    /** The user an identity names and their key (undefined when they have none); undefined for an unknown identity. */
    lookup(identity: string): { name: string; key: Buffer | undefined } | undefined;
  };
  /** Failed logins per user and per peer address, with backoff (the daemon's AuthFailureTracker). */
  failures?: AuthBackoff;
}

/** The part of src/ppp's AuthFailureTracker IKE_AUTH uses. */
export interface AuthBackoff {
  blockedFor(user: string | undefined, address: string | undefined, now: number): number;
  failure(user: string | undefined, address: string | undefined, now: number): number;
  success(user: string): void;
}

/** What the IKE_AUTH step asks the responder to do. */
export interface AuthStep {
  /** Payloads of the encrypted response. */
  payloads: Payload[];
  /** The SA is to be deleted after the response (authentication failed). */
  fail?: string;
  /** The user a failure concerns, for the log (an existing user only). */
  user?: string;
  /** No response yet: the EAP Response is with the remote verifier (authResume answers the request). */
  pending?: true;
  established?: { user: string; virtualIp: string; child: ChildSaUp | undefined };
}

/** Per-SA state of IKE_AUTH, kept on the IKE SA. */
export interface AuthState {
  phase: 'eap' | 'final-auth' | 'done';
  idiBody: Buffer;
  idi: IdPayload;
  idrBody: Buffer;
  request: PayloadChain;
  eap: EapMschapv2Server;
  msk?: Buffer;
  user?: string;
}

const failed = (reason: string, user?: string): AuthStep => ({ payloads: [{ type: PayloadType.N, value: notify(NotifyType.AUTHENTICATION_FAILED) }], fail: reason, ...(user !== undefined ? { user } : {}) });

/** What an unknown identity or a user without a key is checked against: the same work, never a match. */
const DUMMY_PSK = Buffer.alloc(32, 0x5a);
/** Longest identity text taken as a user name (bytes of UTF-8, as a users file name). */
const MAX_IDENTITY = 255;

/**
 * The user name an IDi carries for a shared key: the text of ID_KEY_ID (Android's
 * "IPSec identifier" when it is neither an address nor has an @), ID_FQDN (strongSwan's
 * `id = alice`), ID_RFC822_ADDR (`alice@example.org`), or ID_IPV4_ADDR dotted. Other
 * types, bytes that are not UTF-8 and control characters name nobody.
 */
export function pskIdentity(id: IdPayload): string | undefined {
  switch (id.idType) {
    case IdType.ID_IPV4_ADDR:
      return [...id.data].join('.');
    case IdType.ID_KEY_ID:
    case IdType.ID_FQDN:
    case IdType.ID_RFC822_ADDR: {
      if (id.data.length === 0 || id.data.length > MAX_IDENTITY) return undefined;
      const text = id.data.toString('utf8');
      if (!Buffer.from(text, 'utf8').equals(id.data)) return undefined;
      // eslint-disable-next-line no-control-regex
      return /[\u0000-\u001f\u007f-\u009f]/.test(text) ? undefined : text;
    }
    default:
      return undefined;
  }
}

/** A claimed identity for the log: printable, at most 64 characters. */
const shownIdentity = (id: IdPayload): string => {
  const t = idToString(id);
  return JSON.stringify(t.length > 64 ? `${t.slice(0, 64)}…` : t);
};

/** The first IKE_AUTH request: checks, our certificate AUTH, and the start of EAP; or the whole shared-key login. */
export function authFirst(cfg: Ikev2AuthConfig, sa: Ikev2Sa, chain: PayloadChain, random: (n: number) => Buffer, now = 0, newSpi?: () => number): { step: AuthStep; state?: AuthState } {
  const idi = findPayload(chain, PayloadType.IDi);
  if (!idi || !findPayload(chain, PayloadType.SA) || !findPayload(chain, PayloadType.TSi) || !findPayload(chain, PayloadType.TSr)) {
    return { step: { payloads: [{ type: PayloadType.N, value: notify(NotifyType.INVALID_SYNTAX) }], fail: 'IKE_AUTH without IDi, SA, TSi or TSr' } };
  }
  // §2.16: an AUTH in the first request means the client does not want EAP.
  const authP = findPayload(chain, PayloadType.AUTH);
  if (authP) {
    if (authP.value.method !== AuthMethod.SHARED_KEY_MIC) return { step: failed(`client authenticates with ${nameOf(authMethodNames, authP.value.method)}: only EAP or a shared key`) };
    if (!cfg.psk || !newSpi) return { step: failed('client authenticates with a shared key: IKEv2 keys are not in use here') };
    return { step: sharedKeyLogin(cfg, sa, chain, idi, authP.value.data, now, newSpi) };
  }
  const idrBody = encodeId(cfg.localId);
  const octets = signedOctets(sa.suite.prf, sa.initResponse, sa.ni, sa.keys.skPr, idrBody);
  const auth = signAuth(cfg.privateKey, octets, sa.peerSignatureHashes, cfg.rsaPss === undefined ? {} : { rsaPss: cfg.rsaPss });
  const { backoff, ...users } = cfg.users;
  const address = sa.peer.address;
  const bound = backoff && { blockedFor: (n: string) => backoff.blockedFor(n, address), failure: (n: string) => backoff.failure(n, address), success: (n: string) => backoff.success(n) };
  const remote = cfg.remote;
  const eap = new EapMschapv2Server(
    {
      random,
      ...users,
      ...(bound ? { backoff: bound } : {}),
      ...(remote ? { remote: (a: EapRemoteAttempt) => remote.request(sa.id, a, { ...sa.peer }), localFallback: remote.localFallback } : {}),
    },
    cfg.serverName,
  );
  const payloads: Payload[] = [
    { type: PayloadType.IDr, value: cfg.localId },
    ...cfg.certificates.map((c): Payload => ({ type: PayloadType.CERT, value: { encoding: CertEncoding.X509_SIGNATURE, data: c } })),
    { type: PayloadType.AUTH, value: auth },
    { type: PayloadType.EAP, value: { message: eap.start() } },
  ];
  return { step: { payloads }, state: { phase: 'eap', idiBody: idi.body, idi: idi.value, idrBody, request: chain, eap } };
}

/** What the EAP machine's step means for the IKE_AUTH response. */
function eapStep(st: AuthState, r: EapStep): AuthStep {
  if (r.kind === 'pending') return { payloads: [], pending: true };
  if (r.kind === 'send') return { payloads: [{ type: PayloadType.EAP, value: { message: r.message } }] };
  if (r.kind === 'success') {
    st.phase = 'final-auth';
    st.msk = r.msk;
    st.user = r.user;
    return { payloads: [{ type: PayloadType.EAP, value: { message: r.message } }] };
  }
  if (r.kind === 'failure') return { payloads: [{ type: PayloadType.EAP, value: { message: r.message } }], fail: `EAP: ${r.reason}${r.user ? ` (${r.user})` : ''}` };
  return failed(`EAP: ${r.reason}`);
}

/** The remote verifier's answer to a pending EAP Response: the IKE_AUTH response it was waiting for. */
export function authResume(st: AuthState, verdict: EapRemoteVerdict): AuthStep {
  return eapStep(st, st.eap.complete(verdict));
}

/** A later IKE_AUTH request: an EAP response, or the final AUTH. */
export function authNext(cfg: Ikev2AuthConfig, sa: Ikev2Sa, st: AuthState, chain: PayloadChain, newSpi: () => number): AuthStep {
  if (st.phase === 'eap') {
    const eapP = findPayload(chain, PayloadType.EAP);
    if (!eapP) return failed('IKE_AUTH without EAP during EAP');
    return eapStep(st, st.eap.receive(eapP.value.message));
  }
  if (st.phase !== 'final-auth' || !st.msk || !st.user) return failed(`IKE_AUTH in phase ${st.phase}`);
  const authP = findPayload(chain, PayloadType.AUTH);
  if (!authP || authP.value.method !== AuthMethod.SHARED_KEY_MIC) return failed('final AUTH missing or not a shared-key MIC');
  const iOctets = signedOctets(sa.suite.prf, sa.initRequest, sa.nr, sa.keys.skPi, st.idiBody);
  if (!verifySharedKeyAuth(sa.suite.prf, st.msk, iOctets, authP.value.data)) return failed(`final AUTH does not match the MSK (${st.user})`);
  st.phase = 'done';
  const rOctets = signedOctets(sa.suite.prf, sa.initResponse, sa.ni, sa.keys.skPr, st.idrBody);
  const payloads: Payload[] = [{ type: PayloadType.AUTH, value: { method: AuthMethod.SHARED_KEY_MIC, data: sharedKeyAuth(sa.suite.prf, st.msk, rOctets) } }];
  return firstChild(cfg, sa, st.request, st.user, payloads, newSpi);
}

/**
 * The whole IKE_AUTH of a client with a per-user key (§2.15): the user IDi names, the
 * backoff, their key against the client's AUTH, admission, then our IDr and AUTH keyed
 * with the same key, and the first child SA.
 */
function sharedKeyLogin(cfg: Ikev2AuthConfig, sa: Ikev2Sa, chain: PayloadChain, idi: { body: Buffer; value: IdPayload }, received: Buffer, now: number, newSpi: () => number): AuthStep {
  const identity = pskIdentity(idi.value);
  const user = identity !== undefined ? cfg.psk!.lookup(identity) : undefined;
  const address = sa.peer.address;
  const wait = cfg.failures?.blockedFor(user?.name ?? identity, address, now) ?? 0;
  if (wait > 0) return failed(`shared key: blocked for ${Math.ceil(wait / 1000)} s after repeated failures (${user ? JSON.stringify(user.name) : `identity ${shownIdentity(idi.value)}`})`, user?.name);
  const iOctets = signedOctets(sa.suite.prf, sa.initRequest, sa.nr, sa.keys.skPi, idi.body);
  // the same MIC is computed whether or not there is a user with a key
  const match = verifySharedKeyAuth(sa.suite.prf, user?.key ?? DUMMY_PSK, iOctets, received);
  if (!match || !user?.key) {
    cfg.failures?.failure(user?.name ?? identity, address, now);
    if (!user) return failed(`shared key: unknown identity ${shownIdentity(idi.value)}`);
    if (!user.key) return failed(`shared key: ${JSON.stringify(user.name)} has no IKEv2 key`, user.name);
    return failed(`shared key: AUTH does not match the key of ${JSON.stringify(user.name)}`, user.name);
  }
  const admitted = cfg.users.admit?.(user.name) ?? { ok: true };
  if (!admitted.ok) return failed(`${admitted.message} (${JSON.stringify(user.name)})`, user.name);
  cfg.failures?.success(user.name);
  const idrBody = encodeId(cfg.localId);
  const rOctets = signedOctets(sa.suite.prf, sa.initResponse, sa.ni, sa.keys.skPr, idrBody);
  const payloads: Payload[] = [
    { type: PayloadType.IDr, value: cfg.localId },
    { type: PayloadType.AUTH, value: { method: AuthMethod.SHARED_KEY_MIC, data: sharedKeyAuth(sa.suite.prf, user.key, rOctets) } },
  ];
  return firstChild(cfg, sa, chain, user.name, payloads, newSpi);
}

/** The first child SA, from the first request's SAi2, TSi, TSr, CP (§1.2: failures here leave the IKE SA up). */
function firstChild(cfg: Ikev2AuthConfig, sa: Ikev2Sa, req: PayloadChain, user: string, payloads: Payload[], newSpi: () => number): AuthStep {
  const wants = cpWants(findPayload(req, PayloadType.CP)?.value);
  const virtualIp = cfg.assignAddress(user, wants.requestedIp4, sa.id);
  if (!virtualIp) {
    payloads.push({ type: PayloadType.N, value: notify(NotifyType.INTERNAL_ADDRESS_FAILURE) });
    return { payloads, fail: `no address for ${user}` };
  }
  if (wants.ip4) payloads.push({ type: PayloadType.CP, value: cpReply(virtualIp, wants.dns4 ? cfg.dns : []) });
  const choice = selectChildProposal(findPayload(req, PayloadType.SA)!.value, cfg.childPolicy ?? DEFAULT_CHILD_POLICY, 'ignore');
  const ts = narrowTrafficSelectors(findPayload(req, PayloadType.TSi)!.value.selectors, findPayload(req, PayloadType.TSr)!.value.selectors, virtualIp, cfg.localNetworks ?? FULL_TUNNEL);
  if (!choice || !ts) {
    payloads.push({ type: PayloadType.N, value: notify(choice ? NotifyType.TS_UNACCEPTABLE : NotifyType.NO_PROPOSAL_CHOSEN) });
    return { payloads, established: { user, virtualIp, child: undefined } };
  }
  const ourSpi = newSpi();
  const km = childKeys(sa.suite.prf, sa.keys.skD, sa.ni, sa.nr, choice.encKeyBytes, choice.integKeyBytes);
  payloads.push({ type: PayloadType.SA, value: { proposals: [childReply(choice, ourSpi)] } });
  payloads.push({ type: PayloadType.TSi, value: { selectors: ts.tsi } });
  payloads.push({ type: PayloadType.TSr, value: { selectors: ts.tsr } });
  const child = childSaUp(sa, choice, ourSpi, km, cfg.childLifetimeSeconds, user);
  return { payloads, established: { user, virtualIp, child } };
}
