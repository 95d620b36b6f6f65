import { flat } from '../core/flat.js';
import type { EspTransform } from '../core/sa.js';
import { attr, attrNumber, type DataAttribute } from './wire/attributes.js';
import {
  AuthMethod, DOI_IPSEC, EncapMode, EspTransformId, KEY_IKE, LifeType, P1Attr, P1Enc, P2Attr, ProtocolId, SIT_IDENTITY_ONLY,
  groupNames, nameOf, p1EncNames, p1HashNames,
} from './wire/constants.js';
import type { Proposal, SaPayload, Transform } from './wire/sa.js';
import { ESP_AUTHS, HASHES, phase1Cipher, type CipherAlg, type EspAuthAlg, type HashAlg } from './crypto/algorithms.js';
import { DH_GROUPS, type DhGroupInfo } from './crypto/dh.js';

/** Which algorithms we accept (RFC 2409 App. A; RFC 2407 §4.5). Order is irrelevant: the peer's order wins. */
export type P1CipherName = 'aes128' | 'aes192' | 'aes256' | '3des';
export type HashAlgName = 'md5' | 'sha1' | 'sha256' | 'sha384' | 'sha512';
export type P2CipherName = 'aes128' | 'aes192' | 'aes256' | '3des' | 'aes128gcm16' | 'aes192gcm16' | 'aes256gcm16';

export interface ProposalPolicy {
  phase1Ciphers: P1CipherName[];
  phase1Hashes: HashAlgName[];
  /** DH groups for phase 1 (2, 5, 14, 19, 20). */
  groups: number[];
  phase2Ciphers: P2CipherName[];
  phase2Integ: HashAlgName[];
  /** DH groups accepted for Quick Mode PFS. */
  pfsGroups: number[];
}

/** The CLIENTS.md set. */
export const DEFAULT_POLICY: ProposalPolicy = {
  phase1Ciphers: ['aes128', 'aes192', 'aes256', '3des'],
  phase1Hashes: ['sha1', 'sha256', 'sha384', 'sha512'],
  groups: [2, 5, 14, 19, 20],
  phase2Ciphers: ['aes128', 'aes192', 'aes256', '3des', 'aes128gcm16', 'aes256gcm16'],
  phase2Integ: ['sha1', 'sha256', 'sha384', 'sha512'],
  pfsGroups: [2, 5, 14, 19, 20],
};

export interface Phase1Choice {
  proposal: Proposal;
  transform: Transform;
  cipher: CipherAlg;
  hash: HashAlg;
  group: DhGroupInfo;
  /** Lifetime the peer proposed (s); 0 when absent. */
  lifetimeSeconds: number;
  label: string;
}

type Pick<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Life type/duration pairs (RFC 2409 App. A, RFC 2407 §4.5): returns seconds/kilobytes or a reason. */
function lifetimes(attrs: DataAttribute[], typeAttr: number, durAttr: number): Pick<{ seconds: number; kilobytes: number }> {
  let seconds = 0;
  let kilobytes = 0;
  let pending: number | undefined;
  for (const a of attrs) {
    if (a.type === typeAttr) {
      if (!a.basic) return { ok: false, reason: 'life type not basic' };
      pending = a.value;
    } else if (a.type === durAttr) {
      if (pending === LifeType.SECONDS) seconds = attrNumber(a);
      else if (pending === LifeType.KILOBYTES) kilobytes = attrNumber(a);
      else return { ok: false, reason: 'life duration without a known life type' };
      pending = undefined;
    }
  }
  return { ok: true, value: { seconds, kilobytes } };
}

function basicValues(attrs: DataAttribute[], allowed: Set<number>, variable: Set<number>): Pick<Map<number, number>> {
  const m = new Map<number, number>();
  for (const a of attrs) {
    if (!allowed.has(a.type)) return { ok: false, reason: `unsupported attribute ${a.type}` };
    if (!a.basic && !variable.has(a.type)) return { ok: false, reason: `attribute ${a.type} must be basic (TV)` };
    if (m.has(a.type) && !variable.has(a.type)) return { ok: false, reason: `attribute ${a.type} repeated` };
    m.set(a.type, attrNumber(a));
  }
  return { ok: true, value: m };
}

const P1_ALLOWED = new Set<number>([P1Attr.ENCRYPTION, P1Attr.HASH, P1Attr.AUTH_METHOD, P1Attr.GROUP, P1Attr.LIFE_TYPE, P1Attr.LIFE_DURATION, P1Attr.KEY_LENGTH]);
const P1_VARIABLE = new Set<number>([P1Attr.LIFE_DURATION, P1Attr.LIFE_TYPE]);

function phase1Transform(t: Transform, policy: ProposalPolicy, allowLegacy: boolean): Pick<Omit<Phase1Choice, 'proposal' | 'transform'>> {
  if (t.id !== KEY_IKE) return { ok: false, reason: `transform id ${t.id} is not KEY_IKE` };
  const vals = basicValues(t.attributes, P1_ALLOWED, P1_VARIABLE);
  if (!vals.ok) return vals;
  const m = vals.value;
  const enc = m.get(P1Attr.ENCRYPTION);
  const hashId = m.get(P1Attr.HASH);
  const auth = m.get(P1Attr.AUTH_METHOD);
  const groupId = m.get(P1Attr.GROUP);
  if (enc === undefined || hashId === undefined || auth === undefined || groupId === undefined) return { ok: false, reason: 'mandatory attribute missing' };
  if (auth !== AuthMethod.PSK) return { ok: false, reason: `auth method ${auth} is not PSK` };
  const keyLen = m.get(P1Attr.KEY_LENGTH) ?? 0;
  const cipher = phase1Cipher(enc, keyLen);
  if (!cipher) return { ok: false, reason: `cipher ${nameOf(p1EncNames, enc)}/${keyLen} unsupported` };
  const cname = (enc === P1Enc['3DES'] ? '3des' : `aes${keyLen}`) as P1CipherName;
  if (!policy.phase1Ciphers.includes(cname)) return { ok: false, reason: `cipher ${cname} not allowed` };
  const h = HASHES[hashId];
  if (!h) return { ok: false, reason: `hash ${nameOf(p1HashNames, hashId)} unsupported` };
  if (h.legacy ? !allowLegacy : !policy.phase1Hashes.includes(h.name)) return { ok: false, reason: `hash ${h.name} not allowed` };
  const group = DH_GROUPS[groupId];
  if (!group || !policy.groups.includes(groupId)) return { ok: false, reason: `group ${nameOf(groupNames, groupId)} not allowed` };
  const life = lifetimes(t.attributes, P1Attr.LIFE_TYPE, P1Attr.LIFE_DURATION);
  if (!life.ok) return life;
  const label = flat(cipher.label, '-', h.name, '-', nameOf(groupNames, groupId));
  return { ok: true, value: { cipher, hash: h, group, lifetimeSeconds: life.value.seconds, label } };
}

/** Picks the first acceptable Phase 1 transform (RFC 2409 §5; RFC 2408 §4.2). */
export function selectPhase1(sa: SaPayload, policy: ProposalPolicy, allowLegacy: boolean): Pick<Phase1Choice> {
  if (sa.doi !== DOI_IPSEC) return { ok: false, reason: `DOI ${sa.doi} unsupported` };
  if (sa.situation !== SIT_IDENTITY_ONLY) return { ok: false, reason: `situation ${sa.situation} unsupported` };
  let last = 'no proposal';
  for (const p of sa.proposals) {
    if (p.protocolId !== ProtocolId.ISAKMP) {
      last = `proposal protocol ${p.protocolId} is not ISAKMP`;
      continue;
    }
    for (const t of p.transforms) {
      const r = phase1Transform(t, policy, allowLegacy);
      if (r.ok) return { ok: true, value: { proposal: p, transform: t, ...r.value } };
      last = r.reason;
    }
  }
  return { ok: false, reason: last };
}

/** The SA payload of MM2: the chosen proposal with the one chosen transform, echoed (RFC 2408 §4.2). */
export function phase1Reply(sa: SaPayload, c: Phase1Choice): SaPayload {
  return { doi: sa.doi, situation: sa.situation, proposals: [{ number: c.proposal.number, protocolId: c.proposal.protocolId, spi: c.proposal.spi, transforms: [c.transform] }] };
}

export interface Phase2Choice {
  proposal: Proposal;
  transform: Transform;
  transformEsp: EspTransform;
  /** Key material bytes for each direction (enc key [+ salt] + auth key). */
  encKeyBytes: number;
  auth: EspAuthAlg | undefined;
  encapMode: number;
  pfsGroup: DhGroupInfo | undefined;
  lifetimeSeconds: number;
  lifetimeKilobytes: number;
  label: string;
}

const P2_ALLOWED = new Set<number>([P2Attr.SA_LIFE_TYPE, P2Attr.SA_LIFE_DURATION, P2Attr.GROUP_DESCRIPTION, P2Attr.ENCAPSULATION_MODE, P2Attr.AUTH_ALGORITHM, P2Attr.KEY_LENGTH]);
const P2_VARIABLE = new Set<number>([P2Attr.SA_LIFE_DURATION, P2Attr.SA_LIFE_TYPE]);
const TRANSPORT_MODES = new Set<number>([EncapMode.TRANSPORT, EncapMode.UDP_TRANSPORT, EncapMode.UDP_TRANSPORT_DRAFT]);

function phase2Transform(t: Transform, policy: ProposalPolicy, allowLegacy: boolean, hasKe: boolean): Pick<Omit<Phase2Choice, 'proposal' | 'transform'>> {
  const vals = basicValues(t.attributes, P2_ALLOWED, P2_VARIABLE);
  if (!vals.ok) return vals;
  const m = vals.value;
  const mode = m.get(P2Attr.ENCAPSULATION_MODE);
  if (mode === undefined || !TRANSPORT_MODES.has(mode)) return { ok: false, reason: `encapsulation mode ${mode ?? 'absent'} is not transport` };
  const groupId = m.get(P2Attr.GROUP_DESCRIPTION);
  if ((groupId !== undefined) !== hasKe) return { ok: false, reason: `PFS group ${groupId ?? 'none'} without matching KE payload` };
  let pfsGroup: DhGroupInfo | undefined;
  if (groupId !== undefined) {
    pfsGroup = DH_GROUPS[groupId];
    if (!pfsGroup || !policy.pfsGroups.includes(groupId)) return { ok: false, reason: `PFS group ${groupId} not allowed` };
  }
  const keyLen = m.get(P2Attr.KEY_LENGTH);
  const authId = m.get(P2Attr.AUTH_ALGORITHM);
  let cname: P2CipherName;
  let esp: EspTransform['cipher'];
  let encKeyBytes: number;
  if (t.id === EspTransformId.AES_CBC || t.id === EspTransformId.AES_GCM_16) {
    if (keyLen !== 128 && keyLen !== 192 && keyLen !== 256) return { ok: false, reason: `AES key length ${keyLen ?? 'absent'}` };
    const gcm = t.id === EspTransformId.AES_GCM_16;
    cname = (gcm ? `aes${keyLen}gcm16` : `aes${keyLen}`) as P2CipherName;
    esp = gcm ? 'aes-gcm-16' : 'aes-cbc';
    encKeyBytes = keyLen / 8 + (gcm ? 4 : 0); // RFC 4106 §8.1: key + 4-byte salt
  } else if (t.id === EspTransformId['3DES']) {
    if (keyLen !== undefined && keyLen !== 192) return { ok: false, reason: `3DES key length ${keyLen}` };
    cname = '3des';
    esp = '3des-cbc';
    encKeyBytes = 24;
  } else {
    return { ok: false, reason: `ESP transform ${t.id} unsupported` };
  }
  if (!policy.phase2Ciphers.includes(cname)) return { ok: false, reason: `cipher ${cname} not allowed` };
  let auth: EspAuthAlg | undefined;
  if (esp === 'aes-gcm-16') {
    if (authId !== undefined) return { ok: false, reason: 'AES-GCM with an authentication algorithm' };
  } else {
    if (authId === undefined) return { ok: false, reason: 'CBC cipher without authentication' };
    auth = ESP_AUTHS[authId];
    if (!auth) return { ok: false, reason: `auth algorithm ${authId} unsupported` };
    const hname = auth.name.split('-')[1] as HashAlgName;
    if (auth.legacy ? !allowLegacy : !policy.phase2Integ.includes(hname)) return { ok: false, reason: `auth ${auth.name} not allowed` };
  }
  const life = lifetimes(t.attributes, P2Attr.SA_LIFE_TYPE, P2Attr.SA_LIFE_DURATION);
  if (!life.ok) return life;
  const keyBits = esp === '3des-cbc' ? 192 : (keyLen ?? 0);
  const label = flat(cname, auth ? `-${auth.name}` : '', pfsGroup ? `-${nameOf(groupNames, pfsGroup.id)}` : '');
  return {
    ok: true,
    value: {
      transformEsp: { cipher: esp, keyBits, integ: auth ? auth.name : 'none' },
      encKeyBytes, auth, encapMode: mode, pfsGroup,
      lifetimeSeconds: life.value.seconds, lifetimeKilobytes: life.value.kilobytes, label,
    },
  };
}

/**
 * Picks the first acceptable Quick Mode proposal (RFC 2409 §5.5): a single ESP
 * protocol with a 4-byte SPI, transport mode, and a PFS group iff a KE is present.
 * Proposals sharing a number (AH+ESP bundles) are refused.
 */
export function selectPhase2(sa: SaPayload, policy: ProposalPolicy, allowLegacy: boolean, hasKe: boolean): Pick<Phase2Choice> {
  if (sa.doi !== DOI_IPSEC) return { ok: false, reason: `DOI ${sa.doi} unsupported` };
  if (sa.situation !== SIT_IDENTITY_ONLY) return { ok: false, reason: `situation ${sa.situation} unsupported` };
  let last = 'no proposal';
  const counts = new Map<number, number>();
  for (const p of sa.proposals) counts.set(p.number, (counts.get(p.number) ?? 0) + 1);
  for (const p of sa.proposals) {
    if (counts.get(p.number) !== 1) {
      last = 'protocol bundle';
      continue;
    }
    if (p.protocolId !== ProtocolId.IPSEC_ESP || p.spi.length !== 4) {
      last = `protocol ${p.protocolId} with SPI size ${p.spi.length}`;
      continue;
    }
    for (const t of p.transforms) {
      const r = phase2Transform(t, policy, allowLegacy, hasKe);
      if (r.ok) return { ok: true, value: { proposal: p, transform: t, ...r.value } };
      last = r.reason;
    }
  }
  return { ok: false, reason: last };
}

/** The reply transform: the peer's attributes with the lifetime lowered to `seconds` (RFC 2407 §4.5.4). */
export function phase2ReplyTransform(t: Transform, seconds: number): Transform {
  const attrs: DataAttribute[] = [];
  let pending: number | undefined;
  for (const a of t.attributes) {
    if (a.type === P2Attr.SA_LIFE_TYPE && a.basic) pending = a.value;
    if (a.type === P2Attr.SA_LIFE_DURATION && pending === LifeType.SECONDS) {
      attrs.push(attr(P2Attr.SA_LIFE_DURATION, seconds));
      continue;
    }
    attrs.push(a);
  }
  return { number: t.number, id: t.id, attributes: attrs };
}
