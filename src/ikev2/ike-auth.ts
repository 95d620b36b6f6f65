import type { KeyObject } from 'node:crypto';
import type { ChildSaUp, Endpoint } from '../core/sa.js';
import { sharedKeyAuth, signedOctets, verifySharedKeyAuth } from './crypto/auth.js';
import { childKeys } from './crypto/keys.js';
import { signAuth } from './crypto/signature.js';
import { childReply, childSaUp, DEFAULT_CHILD_POLICY, selectChildProposal, type ChildPolicy } from './child-policy.js';
import { cpReply, cpWants } from './cp-reply.js';
import { EapMschapv2Server, type EapMschapv2Hooks, type EapRemoteAttempt, type EapRemoteVerdict, type EapStep } from './eap/mschapv2-server.js';
import { FULL_TUNNEL, narrowTrafficSelectors, type Ipv4Range } from './ts-narrow.js';
import { AuthMethod, CertEncoding, NotifyType, PayloadType } from './wire/constants.js';
import { encodeId, type IdPayload } from './wire/id.js';
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
 */
export interface Ikev2AuthConfig {
  /** Our certificate chain, DER, the server's own first. */
  certificates: Buffer[];
  privateKey: KeyObject;
  /** Our IDr (ID_FQDN of the certificate's name, or ID_DER_ASN1_DN of its subject). */
  localId: IdPayload;
  /** Name in the MS-CHAPv2 Challenge. */
  serverName: string;
  /** Users (NT hashes) and admission (session limits). */
  users: Pick<EapMschapv2Hooks, 'lookup' | 'admit'>;
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
}

/** What the IKE_AUTH step asks the responder to do. */
export interface AuthStep {
  /** Payloads of the encrypted response. */
  payloads: Payload[];
  /** The SA is to be deleted after the response (authentication failed). */
  fail?: string;
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

const failed = (reason: string): AuthStep => ({ payloads: [{ type: PayloadType.N, value: notify(NotifyType.AUTHENTICATION_FAILED) }], fail: reason });

/** The first IKE_AUTH request: checks, our certificate AUTH, and the start of EAP. */
export function authFirst(cfg: Ikev2AuthConfig, sa: Ikev2Sa, chain: PayloadChain, random: (n: number) => Buffer): { step: AuthStep; state?: AuthState } {
  const idi = findPayload(chain, PayloadType.IDi);
  if (!idi || !findPayload(chain, PayloadType.SA) || !findPayload(chain, PayloadType.TSi) || !findPayload(chain, PayloadType.TSr)) {
    return { step: { payloads: [{ type: PayloadType.N, value: notify(NotifyType.INVALID_SYNTAX) }], fail: 'IKE_AUTH without IDi, SA, TSi or TSr' } };
  }
  // An AUTH in the first request means the client authenticates with a key or certificate: we only take EAP.
  if (findPayload(chain, PayloadType.AUTH)) return { step: failed('client did not ask for EAP') };
  const idrBody = encodeId(cfg.localId);
  const octets = signedOctets(sa.suite.prf, sa.initResponse, sa.ni, sa.keys.skPr, idrBody);
  const auth = signAuth(cfg.privateKey, octets, sa.peerSignatureHashes, cfg.rsaPss === undefined ? {} : { rsaPss: cfg.rsaPss });
  const remote = cfg.remote;
  const eap = new EapMschapv2Server(
    { random, ...cfg.users, ...(remote ? { remote: (a) => remote.request(sa.id, a, { ...sa.peer }), localFallback: remote.localFallback } : {}) },
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

  // The first child SA, from the first request's SAi2, TSi, TSr, CP (§1.2: failures here leave the IKE SA up).
  const req = st.request;
  const wants = cpWants(findPayload(req, PayloadType.CP)?.value);
  const virtualIp = cfg.assignAddress(st.user, wants.requestedIp4, sa.id);
  if (!virtualIp) {
    payloads.push({ type: PayloadType.N, value: notify(NotifyType.INTERNAL_ADDRESS_FAILURE) });
    return { payloads, fail: `no address for ${st.user}` };
  }
  if (wants.ip4) payloads.push({ type: PayloadType.CP, value: cpReply(virtualIp, wants.dns4 ? cfg.dns : []) });
  const choice = selectChildProposal(findPayload(req, PayloadType.SA)!.value, cfg.childPolicy ?? DEFAULT_CHILD_POLICY, 'ignore');
  const ts = narrowTrafficSelectors(findPayload(req, PayloadType.TSi)!.value.selectors, findPayload(req, PayloadType.TSr)!.value.selectors, virtualIp, cfg.localNetworks ?? FULL_TUNNEL);
  if (!choice || !ts) {
    payloads.push({ type: PayloadType.N, value: notify(choice ? NotifyType.TS_UNACCEPTABLE : NotifyType.NO_PROPOSAL_CHOSEN) });
    return { payloads, established: { user: st.user, virtualIp, child: undefined } };
  }
  const ourSpi = newSpi();
  const km = childKeys(sa.suite.prf, sa.keys.skD, sa.ni, sa.nr, choice.encKeyBytes, choice.integKeyBytes);
  payloads.push({ type: PayloadType.SA, value: { proposals: [childReply(choice, ourSpi)] } });
  payloads.push({ type: PayloadType.TSi, value: { selectors: ts.tsi } });
  payloads.push({ type: PayloadType.TSr, value: { selectors: ts.tsr } });
  const child = childSaUp(sa, choice, ourSpi, km, cfg.childLifetimeSeconds, st.user);
  return { payloads, established: { user: st.user, virtualIp, child } };
}
