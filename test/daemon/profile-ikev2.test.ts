/**
 * IKEv2 client profiles: each file is read back by the parser the device side uses (or
 * the closest one on this machine) and checked against the vendor's documented keys, and
 * the proposals each profile pins go through the server's own proposal selection.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificates } from '../../src/daemon/certs.js';
import {
  androidIkev2PskSteps,
  androidIkev2Steps,
  APPLE_CHILD_SA,
  APPLE_IKE_SA,
  appleIkev2Profile,
  linuxIkev2Profile,
  NM_STRONGSWAN_SERVICE,
  sswanProfile,
  STRONGSWAN_ESP,
  STRONGSWAN_IKE,
  WINDOWS_IPSEC,
  windowsIkev2Profile,
  type CaCertificate,
  type Ikev2ProfileInput,
} from '../../src/daemon/profiles/index.js';
import { DEFAULT_CHILD_POLICY, selectChildProposal } from '../../src/ikev2/child-policy.js';
import { DEFAULT_IKEV2_POLICY, selectIkeProposal, suiteLabel, withoutModp1024 } from '../../src/ikev2/policy.js';
import { DhGroup, Encr, Esn, Integ, Prf, ProtocolId, TransformAttr, TransformType } from '../../src/ikev2/wire/constants.js';
import type { Proposal, Transform } from '../../src/ikev2/wire/sa.js';

let ca: CaCertificate;
let input: Ikev2ProfileInput;
const dir = mkdtempSync(join(tmpdir(), 'l2tpsec-profile-ikev2-'));

beforeAll(async () => {
  const made = await makeCertificates({ name: 'vpn.example.net', ips: ['203.0.113.5'] });
  const caCert = new X509Certificate(made.caCert);
  ca = { der: Buffer.from(caCert.raw), pem: made.caCert, commonName: 'l2tpsec CA vpn.example.net' };
  input = { server: 'vpn.example.net', remoteId: 'vpn.example.net', user: 'alice', ca, serverCommonName: 'vpn.example.net', issuerCommonName: 'l2tpsec CA vpn.example.net' };
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// ---- the server's proposal selection, fed with what each profile makes the client send ----

const t = (type: number, id: number, keyBits?: number): Transform => ({ type, id, attributes: keyBits ? [{ type: TransformAttr.KEY_LENGTH, tv: true, value: keyBits }] : [] });
const ikeSa = (...transforms: Transform[]): { proposals: Proposal[] } => ({ proposals: [{ number: 1, protocolId: ProtocolId.IKE, spi: Buffer.alloc(0), transforms }] });
const espSa = (...transforms: Transform[]): { proposals: Proposal[] } => ({ proposals: [{ number: 1, protocolId: ProtocolId.ESP, spi: Buffer.from([0, 0, 0x12, 0x34]), transforms: [...transforms, t(TransformType.ESN, Esn.NO_ESN)] }] });

/** What the server picks from everything it supports, AEAD or not: its strongest choice. */
function serverFavourite(aead: boolean): string {
  const p = DEFAULT_IKEV2_POLICY;
  const all = [
    ...p.encr.flatMap((e) => e.keyBits.map((b) => t(TransformType.ENCR, e.id, b))),
    ...p.prf.map((id) => t(TransformType.PRF, id)),
    ...(aead ? [] : p.integ.map((id) => t(TransformType.INTEG, id))),
    ...p.dh.map((id) => t(TransformType.DH, id)),
  ];
  const c = selectIkeProposal(ikeSa(...all), withoutModp1024(p), undefined);
  return suiteLabel(c!.suite);
}

/** The server takes the IKE proposal with the KE the client sends first (no INVALID_KE_PAYLOAD round trip), modp1024 or not. */
function expectIkeAccepted(sa: { proposals: Proposal[] }, ke: number): string {
  for (const policy of [DEFAULT_IKEV2_POLICY, withoutModp1024(DEFAULT_IKEV2_POLICY)]) {
    const c = selectIkeProposal(sa, policy, ke);
    expect(c).toBeDefined();
    expect(c!.keMismatch).toBe(false);
  }
  return suiteLabel(selectIkeProposal(sa, DEFAULT_IKEV2_POLICY, ke)!.suite);
}

/** The first child (IKE_AUTH, DH ignored) and a rekey with PFS in the group given. */
function expectChildAccepted(sa: { proposals: Proposal[] }, pfs: number): string {
  const first = selectChildProposal(sa, DEFAULT_CHILD_POLICY, 'ignore');
  expect(first).toBeDefined();
  const rekey = selectChildProposal(sa, DEFAULT_CHILD_POLICY, pfs);
  expect(rekey?.dh).toBe(pfs);
  return `${first!.transform.cipher}-${first!.transform.keyBits}-${first!.transform.integ}`;
}

// ---- Apple ---------------------------------------------------------------------------------

/**
 * Apple's documented keys of the VPN.IKEv2 dictionary and of its SecurityAssociationParameters
 * (github.com/apple/device-management, mdm/profiles/com.apple.vpn.managed.yaml, the same
 * as developer.apple.com/documentation/devicemanagement/vpn/ikev2-data.dictionary): type,
 * whether required, and the allowed values where the schema lists them.
 */
type Doc = { type: 'string' | 'integer' | 'dict' | 'data' | 'array'; required?: true; range?: readonly (string | number)[] };
const BIN = [0, 1] as const;
const APPLE_IKEV2_KEYS: Record<string, Doc> = {
  RemoteAddress: { type: 'string', required: true },
  LocalIdentifier: { type: 'string', required: true },
  RemoteIdentifier: { type: 'string', required: true },
  AuthenticationMethod: { type: 'string', required: true, range: ['None', 'SharedSecret', 'Certificate'] },
  CertificateType: { type: 'string', range: ['RSA', 'ECDSA256', 'ECDSA384', 'ECDSA521', 'RSA-PSS'] },
  PayloadCertificateUUID: { type: 'string' },
  SharedSecret: { type: 'string' },
  ExtendedAuthEnabled: { type: 'integer', range: BIN },
  AuthName: { type: 'string' },
  AuthPassword: { type: 'string' },
  OnDemandEnabled: { type: 'integer', range: BIN },
  DeadPeerDetectionRate: { type: 'string', range: ['None', 'Low', 'Medium', 'High'] },
  ServerCertificateIssuerCommonName: { type: 'string' },
  ServerCertificateCommonName: { type: 'string' },
  UseConfigurationAttributeInternalIPSubnet: { type: 'integer', range: BIN },
  DisableMOBIKE: { type: 'integer', range: BIN },
  DisableRedirect: { type: 'integer', range: BIN },
  DisconnectOnIdle: { type: 'integer', range: BIN },
  NATKeepAliveOffloadEnable: { type: 'integer', range: BIN },
  NATKeepAliveInterval: { type: 'integer' },
  EnablePFS: { type: 'integer', range: BIN },
  EnableCertificateRevocationCheck: { type: 'integer', range: BIN },
  EnableFallback: { type: 'integer', range: BIN },
  MTU: { type: 'integer' },
  IncludeAllNetworks: { type: 'integer', range: BIN },
  IKESecurityAssociationParameters: { type: 'dict' },
  ChildSecurityAssociationParameters: { type: 'dict' },
};
const APPLE_SA_KEYS: Record<string, Doc> = {
  EncryptionAlgorithm: { type: 'string', range: ['DES', '3DES', 'AES-128', 'AES-256', 'AES-128-GCM', 'AES-256-GCM', 'ChaCha20Poly1305'] },
  IntegrityAlgorithm: { type: 'string', range: ['SHA1-96', 'SHA1-160', 'SHA2-256', 'SHA2-384', 'SHA2-512'] },
  DiffieHellmanGroup: { type: 'integer', range: [1, 2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 31, 32] },
  LifeTimeInMinutes: { type: 'integer' },
};

type J = string | number | boolean | { $data: string } | J[] | { [k: string]: J };

/** Python's plistlib (an independent reader of Apple's format) turns the profile into JSON; data as {"$data": base64}. */
function plistlib(xml: string): { [k: string]: J } {
  const py = spawnSync(
    'python3',
    ['-c', 'import plistlib,sys,json,base64\nd=plistlib.loads(sys.stdin.buffer.read())\nprint(json.dumps(d, default=lambda b: {"$data": base64.b64encode(b).decode()}))'],
    { input: xml, encoding: 'utf8' },
  );
  expect(py.error).toBeUndefined(); // python3 is on this machine kind (README "Test")
  expect(py.stderr).toBe('');
  return JSON.parse(py.stdout) as { [k: string]: J };
}

function typeOf(v: J): Doc['type'] | 'boolean' | 'real' {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'real';
  if (Array.isArray(v)) return 'array';
  return '$data' in v ? 'data' : 'dict';
}

function checkDocumented(d: { [k: string]: J }, docs: Record<string, Doc>, where: string): void {
  for (const [k, v] of Object.entries(d)) {
    const doc = docs[k];
    expect(doc, `${where}.${k} is not a documented key`).toBeDefined();
    expect(typeOf(v), `${where}.${k}`).toBe(doc!.type);
    if (doc!.range) expect(doc!.range, `${where}.${k} = ${JSON.stringify(v)}`).toContain(v);
  }
  for (const [k, doc] of Object.entries(docs)) if (doc.required) expect(d, `${where} lacks the required ${k}`).toHaveProperty(k);
}

const dictOf = (v: J | undefined): { [k: string]: J } => {
  if (v === undefined || typeOf(v) !== 'dict') throw new Error('not a dict');
  return v as { [k: string]: J };
};

/** Apple's names to IKEv2 transforms: GCM has no integrity transform and takes its PRF from IntegrityAlgorithm. */
const APPLE_ENCR: Record<string, Transform> = { 'AES-256-GCM': t(TransformType.ENCR, Encr.AES_GCM_16, 256), 'AES-256': t(TransformType.ENCR, Encr.AES_CBC, 256) };
const APPLE_PRF: Record<string, number> = { 'SHA2-256': Prf.HMAC_SHA2_256, 'SHA2-384': Prf.HMAC_SHA2_384, 'SHA2-512': Prf.HMAC_SHA2_512 };
const APPLE_INTEG: Record<string, number> = { 'SHA2-256': Integ.HMAC_SHA2_256_128, 'SHA2-384': Integ.HMAC_SHA2_384_192, 'SHA2-512': Integ.HMAC_SHA2_512_256 };

describe('apple IKEv2 .mobileconfig', () => {
  it('plistlib reads it; every key is one Apple documents, with a documented value', () => {
    const root = plistlib(appleIkev2Profile(input));
    expect(root['PayloadType']).toBe('Configuration');
    const content = root['PayloadContent'] as J[];
    expect(content).toHaveLength(2);
    const [caPayload, vpn] = content.map(dictOf);
    expect(caPayload!['PayloadType']).toBe('com.apple.security.root');
    expect(Buffer.from((caPayload!['PayloadContent'] as { $data: string }).$data, 'base64').equals(ca.der)).toBe(true);
    expect(vpn!['PayloadType']).toBe('com.apple.vpn.managed');
    expect(vpn!['VPNType']).toBe('IKEv2');
    const uuids = [root, caPayload!, vpn!].map((d) => d['PayloadUUID']);
    expect(new Set(uuids).size).toBe(3);
    const ikev2 = dictOf(vpn!['IKEv2']);
    checkDocumented(ikev2, APPLE_IKEV2_KEYS, 'IKEv2');
    checkDocumented(dictOf(ikev2['IKESecurityAssociationParameters']), APPLE_SA_KEYS, 'IKESecurityAssociationParameters');
    checkDocumented(dictOf(ikev2['ChildSecurityAssociationParameters']), APPLE_SA_KEYS, 'ChildSecurityAssociationParameters');
    expect(ikev2).toMatchObject({
      RemoteAddress: 'vpn.example.net',
      RemoteIdentifier: 'vpn.example.net',
      LocalIdentifier: 'alice',
      AuthName: 'alice',
      AuthenticationMethod: 'Certificate',
      ExtendedAuthEnabled: 1,
      ServerCertificateIssuerCommonName: 'l2tpsec CA vpn.example.net',
      DisableMOBIKE: 0,
      EnablePFS: 1,
      DeadPeerDetectionRate: 'Medium',
    });
    expect(ikev2).not.toHaveProperty('AuthPassword');
    expect(ikev2).not.toHaveProperty('PayloadCertificateUUID'); // EAP, not a client certificate
  });

  it('no certificate payload when the chain is publicly trusted', () => {
    const root = plistlib(appleIkev2Profile({ ...input, ca: undefined }));
    const content = (root['PayloadContent'] as J[]).map(dictOf);
    expect(content.map((p) => p['PayloadType'])).toEqual(['com.apple.vpn.managed']);
  });

  it("its IKE and child proposals are the server's strongest, taken without INVALID_KE_PAYLOAD", () => {
    const ike = APPLE_IKE_SA;
    const encr = APPLE_ENCR[ike.EncryptionAlgorithm]!;
    const aead = encr.id === Encr.AES_GCM_16;
    const label = expectIkeAccepted(
      ikeSa(encr, t(TransformType.PRF, APPLE_PRF[ike.IntegrityAlgorithm]!), ...(aead ? [] : [t(TransformType.INTEG, APPLE_INTEG[ike.IntegrityAlgorithm]!)]), t(TransformType.DH, ike.DiffieHellmanGroup)),
      ike.DiffieHellmanGroup,
    );
    expect(label).toBe(serverFavourite(aead));
    const child = APPLE_CHILD_SA;
    const cEncr = APPLE_ENCR[child.EncryptionAlgorithm]!;
    const cAead = cEncr.id === Encr.AES_GCM_16;
    expect(expectChildAccepted(espSa(cEncr, ...(cAead ? [] : [t(TransformType.INTEG, APPLE_INTEG[child.IntegrityAlgorithm]!)]), t(TransformType.DH, child.DiffieHellmanGroup)), child.DiffieHellmanGroup)).toBe('aes-gcm-16-256-none');
  });

  it('any user name and connection name round-trip through plistlib', () => {
    const text = fc.string({ unit: fc.constantFrom(...'ab<>&"\'$\\ ,;üé€%`'.split('')), minLength: 1, maxLength: 20 });
    const cases = fc.sample(fc.tuple(text, text), 40);
    // one python3 for all of them: a JSON list of documents in, a list of parsed ones out
    const py = spawnSync('python3', ['-c', 'import plistlib,sys,json\nprint(json.dumps([plistlib.loads(x.encode())["PayloadContent"][0]["IKEv2"] for x in json.loads(sys.stdin.read())]))'], {
      input: JSON.stringify(cases.map(([user, name]) => appleIkev2Profile({ ...input, user, name, ca: undefined }))),
      encoding: 'utf8',
    });
    expect(py.stderr).toBe('');
    const parsed = JSON.parse(py.stdout) as Array<Record<string, string>>;
    cases.forEach(([user], i) => {
      expect(parsed[i]!['AuthName']).toBe(user);
      expect(parsed[i]!['LocalIdentifier']).toBe(user);
    });
  });
});

// ---- Windows -------------------------------------------------------------------------------

/**
 * The cmdlets the script may call and their documented parameters (MicrosoftDocs
 * windows-powershell-docs: vpnclient/Add-VpnConnection.md (InboxProfile set),
 * vpnclient/Set-VpnConnectionIPsecConfiguration.md (CustomPolicy set), pki/Import-Certificate.md;
 * Join-Path, Remove-Item, Out-Null and Write-Host from the PowerShell reference). `set`: the
 * "Accepted values"; `switch`: takes no value; `required`: in every call.
 */
type PsParam = { set?: readonly string[]; switch?: true; required?: true };
const COMMON_SWITCHES = { WhatIf: { switch: true }, Confirm: { switch: true }, AsJob: { switch: true } } as const;
const PS_CMDLETS: Record<string, { params: Record<string, PsParam>; positional?: number }> = {
  'Add-VpnConnection': {
    params: {
      Name: { required: true },
      ServerAddress: { required: true },
      TunnelType: { set: ['Pptp', 'L2tp', 'Sstp', 'Ikev2', 'Automatic'] },
      AllUserConnection: { switch: true },
      RememberCredential: { switch: true },
      SplitTunneling: { switch: true },
      Force: { switch: true },
      PassThru: { switch: true },
      L2tpPsk: {},
      UseWinlogonCredential: { switch: true },
      DnsSuffix: {},
      IdleDisconnectSeconds: {},
      EapConfigXmlStream: {},
      AuthenticationMethod: { set: ['Pap', 'Chap', 'MSChapv2', 'Eap', 'MachineCertificate'] },
      EncryptionLevel: { set: ['NoEncryption', 'Optional', 'Required', 'Maximum', 'Custom'] },
      ...COMMON_SWITCHES,
    },
  },
  'Set-VpnConnectionIPsecConfiguration': {
    params: {
      ConnectionName: { required: true },
      AuthenticationTransformConstants: { required: true, set: ['MD596', 'SHA196', 'SHA256128', 'GCMAES128', 'GCMAES192', 'GCMAES256', 'None'] },
      CipherTransformConstants: { required: true, set: ['DES', 'DES3', 'AES128', 'AES192', 'AES256', 'GCMAES128', 'GCMAES192', 'GCMAES256', 'None'] },
      EncryptionMethod: { required: true, set: ['DES', 'DES3', 'AES128', 'AES192', 'AES256', 'GCMAES128', 'GCMAES256'] },
      IntegrityCheckMethod: { required: true, set: ['MD5', 'SHA1', 'SHA256', 'SHA384'] },
      PfsGroup: { required: true, set: ['None', 'PFS1', 'PFS2', 'PFS2048', 'ECP256', 'ECP384', 'PFSMM', 'PFS24'] },
      DHGroup: { required: true, set: ['None', 'Group1', 'Group2', 'Group14', 'ECP256', 'ECP384', 'Group24'] },
      PassThru: { switch: true },
      Force: { switch: true },
      AllUserConnection: { switch: true },
      ...COMMON_SWITCHES,
    },
  },
  'Import-Certificate': { params: { FilePath: { required: true }, CertStoreLocation: {}, ...COMMON_SWITCHES } },
  'Join-Path': { params: { Path: { required: true }, ChildPath: { required: true } } },
  'Remove-Item': { params: { LiteralPath: {}, Path: {}, Force: { switch: true }, ...COMMON_SWITCHES } },
  'Out-Null': { params: {} },
  'Write-Host': { params: {}, positional: 1 },
};
/** Static .NET methods the script may call. */
const PS_METHODS = new Set(['[System.IO.File]::WriteAllBytes', '[System.Convert]::FromBase64String']);

const QUOTES = "'\u2018\u2019\u201a\u201b";
type Tok = { k: 'str' | 'var' | 'param' | 'word' | 'type' | 'op' | 'nl'; v: string };

/** A PowerShell tokenizer for the subset the profiles use; throws on anything else. */
function psTokens(src: string): { tokens: Tok[]; directives: string[] } {
  expect(src.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/); // CRLF line ends only
  const s = src.replace(/\r\n/g, '\n');
  const tokens: Tok[] = [];
  const directives: string[] = [];
  let i = 0;
  const depth: string[] = [];
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t') i++;
    else if (c === '\n') {
      tokens.push({ k: 'nl', v: '' });
      i++;
    } else if (c === '`') {
      if (s[i + 1] !== '\n') throw new Error(`backtick not at a line end, offset ${i}`);
      i += 2; // line continuation
    } else if (c === '#') {
      const end = s.indexOf('\n', i);
      const line = s.slice(i, end < 0 ? s.length : end);
      if (line.startsWith('#Requires')) directives.push(line);
      i = end < 0 ? s.length : end;
    } else if (QUOTES.includes(c)) {
      // PowerShell's single quotes: ' and the typographic ones; a doubled one stands for itself
      let v = '';
      i++;
      for (;;) {
        if (i >= s.length) throw new Error('unterminated string');
        if (QUOTES.includes(s[i]!) && QUOTES.includes(s[i + 1] ?? '')) {
          v += s[i];
          i += 2;
        } else if (QUOTES.includes(s[i]!)) {
          i++;
          break;
        } else v += s[i++];
      }
      tokens.push({ k: 'str', v });
    } else if (c === '"') {
      throw new Error('double-quoted (expanding) string: the profiles quote with single quotes only');
    } else if (c === '$') {
      const m = /^\$[A-Za-z_][A-Za-z0-9_]*(:[A-Za-z_][A-Za-z0-9_]*)?/.exec(s.slice(i));
      if (!m) throw new Error(`bad variable at ${i}`);
      tokens.push({ k: 'var', v: m[0] });
      i += m[0].length;
    } else if (c === '-' && /[A-Za-z]/.test(s[i + 1] ?? '')) {
      const m = /^-[A-Za-z][A-Za-z0-9]*/.exec(s.slice(i))!;
      tokens.push({ k: 'param', v: m[0].slice(1) });
      i += m[0].length;
    } else if (c === '[' && /^\[[A-Za-z][A-Za-z.]*\]/.test(s.slice(i))) {
      const m = /^\[[A-Za-z][A-Za-z.]*\]/.exec(s.slice(i))!;
      tokens.push({ k: 'type', v: m[0] });
      i += m[0].length;
    } else if (s.startsWith('::', i)) {
      tokens.push({ k: 'op', v: '::' });
      i += 2;
    } else if ('(){}'.includes(c)) {
      if (c === '(' || c === '{') depth.push(c);
      else if (depth.pop() !== (c === ')' ? '(' : '{')) throw new Error(`unbalanced ${c} at ${i}`);
      tokens.push({ k: 'op', v: c });
      i++;
    } else if ('=+|,'.includes(c)) {
      tokens.push({ k: 'op', v: c });
      i++;
    } else if (/[A-Za-z0-9_]/.test(c)) {
      const m = /^[A-Za-z0-9_][A-Za-z0-9_.-]*/.exec(s.slice(i))!;
      tokens.push({ k: 'word', v: m[0] });
      i += m[0].length;
    } else throw new Error(`unexpected ${JSON.stringify(c)} at ${i}`);
  }
  if (depth.length) throw new Error('unbalanced brackets');
  return { tokens, directives };
}

type PsCall = { cmdlet: string; args: Map<string, Tok | true>; positional: Tok[] };

/** One command: the cmdlet is allowed, each parameter documented for it, enumerated values in their sets, required ones there. */
function psCommand(toks: Tok[]): PsCall {
  const [head, ...rest] = toks;
  expect(head?.k).toBe('word');
  const spec = PS_CMDLETS[head!.v];
  expect(spec, `cmdlet ${head!.v} is not on the allow-list`).toBeDefined();
  const args = new Map<string, Tok | true>();
  const positional: Tok[] = [];
  for (let i = 0; i < rest.length; i++) {
    const tok = rest[i]!;
    if (tok.k !== 'param') {
      positional.push(tok);
      continue;
    }
    const p = spec!.params[tok.v];
    expect(p, `${head!.v} has no documented parameter -${tok.v}`).toBeDefined();
    expect(args.has(tok.v), `-${tok.v} twice`).toBe(false);
    if (p!.switch) {
      args.set(tok.v, true);
      continue;
    }
    const value = rest[++i];
    expect(value && ['str', 'word', 'var'].includes(value.k), `-${tok.v} needs a value`).toBe(true);
    if (p!.set) expect(p!.set, `${head!.v} -${tok.v} ${value!.v}`).toContain(value!.v);
    args.set(tok.v, value!);
  }
  expect(positional.length, `${head!.v}: positional arguments`).toBeLessThanOrEqual(spec!.positional ?? 0);
  for (const [name, p] of Object.entries(spec!.params)) if (p.required) expect(args.has(name), `${head!.v} without -${name}`).toBe(true);
  return { cmdlet: head!.v, args, positional };
}

/** Checks every statement; returns the cmdlet calls and the string variables' values. */
function psCheck(src: string): { calls: PsCall[]; vars: Map<string, string>; directives: string[] } {
  const { tokens, directives } = psTokens(src);
  const statements: Tok[][] = [[]];
  for (const tok of tokens) {
    const last = statements[statements.length - 1]!;
    const prev = last[last.length - 1];
    // a line ending in an operator goes on (as PowerShell's parser does)
    if (tok.k === 'nl' && !(prev?.k === 'op' && '=+|,'.includes(prev.v))) statements.push([]);
    else if (tok.k !== 'nl') last.push(tok);
  }
  const calls: PsCall[] = [];
  const vars = new Map<string, string>();
  const pipeline = (toks: Tok[]): void => {
    const parts: Tok[][] = [[]];
    for (const tok of toks) {
      if (tok.k === 'op' && tok.v === '|') parts.push([]);
      else parts[parts.length - 1]!.push(tok);
    }
    for (const part of parts) calls.push(psCommand(part));
  };
  // an expression: strings joined with +, a variable, or one allowed static method call
  const expression = (toks: Tok[]): string | undefined => {
    if (toks[0]?.k === 'type') {
      expect(toks[1]).toEqual({ k: 'op', v: '::' });
      expect(PS_METHODS, `${toks[0].v}::${toks[2]?.v}`).toContain(`${toks[0].v}::${toks[2]?.v}`);
      expect(toks[3]).toEqual({ k: 'op', v: '(' });
      expect(toks[toks.length - 1]).toEqual({ k: 'op', v: ')' });
      return undefined;
    }
    if (toks[0]?.k === 'word') {
      pipeline(toks);
      return undefined;
    }
    let v = '';
    toks.forEach((tok, i) => {
      if (i % 2 === 1) expect(tok).toEqual({ k: 'op', v: '+' });
      else {
        expect(tok.k).toBe('str');
        v += tok.v;
      }
    });
    return v;
  };
  for (const st of statements) {
    if (st.length === 0) continue;
    if (st[0]!.k === 'var' && st[1]?.k === 'op' && st[1].v === '=') {
      const v = expression(st.slice(2));
      if (v !== undefined) vars.set(st[0]!.v, v);
    } else if (st[0]!.k === 'type') expression(st);
    else pipeline(st);
  }
  return { calls, vars, directives };
}

const WIN_IKE_ENCR: Record<string, Transform> = { AES256: t(TransformType.ENCR, Encr.AES_CBC, 256), AES128: t(TransformType.ENCR, Encr.AES_CBC, 128), GCMAES256: t(TransformType.ENCR, Encr.AES_GCM_16, 256) };
const WIN_INTEG: Record<string, [number, number]> = { SHA256: [Integ.HMAC_SHA2_256_128, Prf.HMAC_SHA2_256], SHA384: [Integ.HMAC_SHA2_384_192, Prf.HMAC_SHA2_384] };
const WIN_DH: Record<string, number> = { ECP256: DhGroup.ECP256, ECP384: DhGroup.ECP384, Group14: DhGroup.MODP2048, PFS2048: DhGroup.MODP2048 };
const WIN_ESP: Record<string, Transform> = { GCMAES256: t(TransformType.ENCR, Encr.AES_GCM_16, 256), GCMAES128: t(TransformType.ENCR, Encr.AES_GCM_16, 128) };

describe('windows IKEv2 PowerShell', () => {
  it('every cmdlet, parameter and enumerated value is a documented one; the CA decodes to ca.crt', () => {
    const { calls, vars, directives } = psCheck(windowsIkev2Profile(input));
    expect(calls.map((c) => c.cmdlet)).toEqual(['Join-Path', 'Import-Certificate', 'Out-Null', 'Remove-Item', 'Add-VpnConnection', 'Set-VpnConnectionIPsecConfiguration', 'Write-Host']);
    expect(directives).toEqual(['#Requires -RunAsAdministrator']);
    const add = calls.find((c) => c.cmdlet === 'Add-VpnConnection')!;
    const val = (c: PsCall, k: string): string | undefined => (c.args.get(k) as Tok | undefined)?.v;
    expect(val(add, 'TunnelType')).toBe('Ikev2');
    expect(val(add, 'AuthenticationMethod')).toBe('Eap');
    expect(val(add, 'EncryptionLevel')).toBe('Required');
    expect(val(add, 'ServerAddress')).toBe('vpn.example.net');
    const set = calls.find((c) => c.cmdlet === 'Set-VpnConnectionIPsecConfiguration')!;
    expect(val(set, 'ConnectionName')).toBe(val(add, 'Name'));
    const imp = calls.find((c) => c.cmdlet === 'Import-Certificate')!;
    expect(val(imp, 'CertStoreLocation')).toBe('Cert:\\LocalMachine\\Root');
    expect(Buffer.from(vars.get('$caBase64')!, 'base64').equals(ca.der)).toBe(true);
    expect(vars.get('$ErrorActionPreference')).toBe('Stop');
  });

  it('without a CA: no import, no elevation', () => {
    const { calls, directives } = psCheck(windowsIkev2Profile({ ...input, ca: undefined }));
    expect(calls.map((c) => c.cmdlet)).toEqual(['Add-VpnConnection', 'Set-VpnConnectionIPsecConfiguration', 'Write-Host']);
    expect(directives).toEqual([]);
  });

  it('the checker refuses what it should (an undocumented parameter, a value outside the set, an unbalanced bracket)', () => {
    const good = windowsIkev2Profile(input);
    expect(() => psCheck(good.replace('-DHGroup ECP256', '-DHGroup Group19'))).toThrow(/DHGroup Group19/);
    expect(() => psCheck(good.replace('-TunnelType Ikev2', '-Tunnel Ikev2'))).toThrow(/no documented parameter -Tunnel/);
    expect(() => psCheck(good.replace('[System.IO.File]::WriteAllBytes($caFile,', '[System.IO.File]::WriteAllBytes(($caFile,'))).toThrow(/unbalanced/);
    expect(() => psCheck(good.replace("-Name 'l2tpsec", '-Name "l2tpsec'))).toThrow(/double-quoted/);
  });

  it("its proposals are the server's: IKE without INVALID_KE_PAYLOAD, ESP with PFS in the group it names", () => {
    const w = WINDOWS_IPSEC;
    const [integ, prf] = WIN_INTEG[w.IntegrityCheckMethod]!;
    const encr = WIN_IKE_ENCR[w.EncryptionMethod]!;
    const label = expectIkeAccepted(ikeSa(encr, t(TransformType.INTEG, integ), t(TransformType.PRF, prf), t(TransformType.DH, WIN_DH[w.DHGroup]!)), WIN_DH[w.DHGroup]!);
    expect(label).toBe(serverFavourite(false)); // the strongest CBC suite the server takes
    // GCM for ESP: the same constant as cipher and authentication transform (Windows pairs them)
    expect(w.AuthenticationTransformConstants).toBe(w.CipherTransformConstants);
    expect(expectChildAccepted(espSa(WIN_ESP[w.CipherTransformConstants]!, t(TransformType.DH, WIN_DH[w.PfsGroup]!)), WIN_DH[w.PfsGroup]!)).toBe('aes-gcm-16-256-none');
  });

  it('odd connection names stay inside their quotes', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'ab\'"$`;|&() \u2018\u2019\u201a\u201b'.split('')), minLength: 1, maxLength: 20 }), (name) => {
        const { calls } = psCheck(windowsIkev2Profile({ ...input, name, ca: undefined }));
        const add = calls.find((c) => c.cmdlet === 'Add-VpnConnection')!;
        expect((add.args.get('Name') as Tok).v).toBe(name);
      }),
      { numRuns: 100 },
    );
  });
});

// ---- Android -------------------------------------------------------------------------------

/**
 * A JSON Schema (2020-12) of the strongSwan Android app's .sswan profile, written from
 * docs.strongswan.org "VPN Profile Import for the Android VPN Client" and the app's parser
 * (strongswan src/frontends/android/.../ui/VpnProfileImportActivity.java, parseProfile):
 * uuid, name, type and remote.addr required; remote.cert base64 DER; local.eap_id the user.
 */
const SSWAN_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['uuid', 'name', 'type', 'remote'],
  additionalProperties: false,
  properties: {
    uuid: { type: 'string', pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' },
    name: { type: 'string', minLength: 1 },
    type: { enum: ['ikev2-eap', 'ikev2-cert', 'ikev2-cert-eap', 'ikev2-eap-tls', 'ikev2-byod-eap'] },
    remote: {
      type: 'object',
      required: ['addr'],
      additionalProperties: false,
      properties: {
        addr: { type: 'string', minLength: 1 },
        port: { type: 'integer', minimum: 1, maximum: 65535 },
        id: { type: 'string', minLength: 1 },
        cert: { type: 'string', pattern: '^[A-Za-z0-9+/]+={0,2}$' },
        certreq: { type: 'boolean' },
        revocation: { type: 'object' },
      },
    },
    local: {
      type: 'object',
      additionalProperties: false,
      properties: { eap_id: { type: 'string', minLength: 1 }, id: { type: 'string' }, p12: { type: 'string' }, 'rsa-pss': { type: 'boolean' } },
    },
    'ike-proposal': { type: 'string', pattern: '^[a-z0-9]+(-[a-z0-9]+)*$' },
    'esp-proposal': { type: 'string', pattern: '^[a-z0-9]+(-[a-z0-9]+)*$' },
    'dns-servers': { type: 'string' },
    mtu: { type: 'integer', minimum: 1280, maximum: 1500 },
    'nat-keepalive': { type: 'integer' },
    'split-tunneling': { type: 'object' },
    apps: { type: 'array', items: { type: 'string' } },
    'excluded-apps': { type: 'array', items: { type: 'string' } },
    proxy: { type: 'object' },
  },
} as const;

/**
 * The python3 that has jsonschema: the machine's own, or Debian's (test/interop/setup.sh
 * installs python3-jsonschema, which CI runs before the tests).
 */
const JSONSCHEMA_PYTHON = ['python3', '/usr/bin/python3'].find((py) => spawnSync(py, ['-c', 'import jsonschema'], { encoding: 'utf8' }).status === 0) ?? 'python3';

/** Python's jsonschema validates the document; returns the error or ''. */
function jsonschema(doc: string): string {
  const py = spawnSync(
    JSONSCHEMA_PYTHON,
    ['-c', 'import json,sys,jsonschema\nschema,doc=json.loads(sys.argv[1]),json.loads(sys.stdin.read())\ntry:\n  jsonschema.Draft202012Validator(schema).validate(doc)\nexcept jsonschema.ValidationError as e:\n  print(e.message)', JSON.stringify(SSWAN_SCHEMA)],
    { input: doc, encoding: 'utf8' },
  );
  expect(py.error).toBeUndefined();
  expect(py.stderr).toBe('');
  return py.stdout.trim();
}

/** strongSwan proposal keywords to IKEv2 transforms (strongSwan's proposal_keywords). */
function strongswanTransforms(proposal: string, ike: boolean): Transform[] {
  const out: Transform[] = [];
  for (const k of proposal.split('-')) {
    const gcm = /^aes(128|192|256)gcm16$/.exec(k);
    const cbc = /^aes(128|192|256)$/.exec(k);
    if (gcm) out.push(t(TransformType.ENCR, Encr.AES_GCM_16, Number(gcm[1])));
    else if (cbc) out.push(t(TransformType.ENCR, Encr.AES_CBC, Number(cbc[1])));
    else if (k === 'prfsha256') out.push(t(TransformType.PRF, Prf.HMAC_SHA2_256));
    else if (k === 'sha256') out.push(t(TransformType.INTEG, Integ.HMAC_SHA2_256_128), ...(ike ? [t(TransformType.PRF, Prf.HMAC_SHA2_256)] : []));
    else if (k === 'ecp256') out.push(t(TransformType.DH, DhGroup.ECP256));
    else if (k === 'modp2048') out.push(t(TransformType.DH, DhGroup.MODP2048));
    else throw new Error(`unknown strongSwan keyword ${k}`);
  }
  return out;
}

describe('android', () => {
  it('.sswan: valid against the schema of the documented format, with the CA and the user', () => {
    const doc = sswanProfile(input);
    expect(jsonschema(doc)).toBe('');
    const j = JSON.parse(doc) as { type: string; remote: { addr: string; id: string; cert: string }; local: { eap_id: string } };
    expect(j.type).toBe('ikev2-eap');
    expect(j.remote.addr).toBe('vpn.example.net');
    expect(j.remote.id).toBe('vpn.example.net');
    expect(Buffer.from(j.remote.cert, 'base64').equals(ca.der)).toBe(true);
    expect(j.local.eap_id).toBe('alice');
    expect(doc).not.toMatch(/password/i);
  });

  it('the schema bites: a document without remote.addr, or with an unknown key, fails', () => {
    const j = JSON.parse(sswanProfile(input)) as { remote: Record<string, unknown> } & Record<string, unknown>;
    delete j.remote['addr'];
    expect(jsonschema(JSON.stringify(j))).toMatch(/addr/);
    expect(jsonschema(JSON.stringify({ ...JSON.parse(sswanProfile(input)), password: 'x' }))).toMatch(/password/);
  });

  it(".sswan proposals are the server's strongest, IKE without INVALID_KE_PAYLOAD, ESP with PFS", () => {
    const j = JSON.parse(sswanProfile(input)) as Record<string, string>;
    expect(j['ike-proposal']).toBe(STRONGSWAN_IKE);
    expect(j['esp-proposal']).toBe(STRONGSWAN_ESP);
    expect(expectIkeAccepted(ikeSa(...strongswanTransforms(STRONGSWAN_IKE, true)), DhGroup.ECP256)).toBe(serverFavourite(true));
    expect(expectChildAccepted(espSa(...strongswanTransforms(STRONGSWAN_ESP, false)), DhGroup.ECP256)).toBe('aes-gcm-16-256-none');
  });

  it('built-in client steps: the MSCHAPv2 type, server = the certificate name, identifier, the CA as PEM', () => {
    const s = androidIkev2Steps(input);
    expect(s).toContain('Type: IKEv2/IPSec MSCHAPv2');
    expect(s).toContain('Server address: vpn.example.net');
    expect(s).toContain('IPSec identifier: alice');
    expect(s).toContain('Username: alice');
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(s)![0];
    expect(Buffer.from(new X509Certificate(pem).raw).equals(ca.der)).toBe(true);
    expect(androidIkev2Steps({ ...input, ca: undefined })).not.toContain('BEGIN CERTIFICATE');
  });

  it('PSK steps: identifier = user name, the key only by reference to users add --ikev2-psk', () => {
    const s = androidIkev2PskSteps(input);
    expect(s).toContain('Type: IKEv2/IPSec PSK');
    expect(s).toContain('Server address: vpn.example.net');
    expect(s).toMatch(/IPSec identifier: alice\b/);
    expect(s).toContain('l2tpsec users add alice --ikev2-psk');
    expect(s).not.toContain('BEGIN CERTIFICATE');
  });
});

// ---- Linux ---------------------------------------------------------------------------------

/** The vpn.data keys charon-nm reads (strongswan src/charon-nm/nm/nm_service.c), plus NM's own password-flags. */
const NM_STRONGSWAN_KEYS = new Set(['address', 'server-port', 'virtual', 'encap', 'ipcomp', 'certificate', 'remote-identity', 'local-identity', 'proposal', 'ike', 'esp', 'remote-ts', 'method', 'user', 'cert-source', 'usercert', 'userkey', 'password-flags']);
const NM_METHODS = new Set(['eap', 'psk', 'cert', 'eap-tls', 'key', 'agent', 'smartcard']);

/** Runs the script with nmcli replaced by a function that prints its arguments; returns them and the vpn.data items. */
function runLinux(script: string, caFile: string): { args: string[]; data: Map<string, string> } {
  const out = execFileSync('sh', ['-c', `nmcli() { for a in "$@"; do printf '%s\\n---\\n' "$a"; done; }\n${script.replace(/^#!.*\n/, '')}`], { encoding: 'utf8', env: { ...process.env, CA_FILE: caFile } });
  const args = out.split('\n---\n');
  const raw = args[args.indexOf('vpn.data') + 1]!;
  const data = new Map<string, string>();
  for (const item of raw.match(/(?:\\.|[^,\\])+/g) ?? []) {
    const eq = item.indexOf(' = ');
    data.set(item.slice(0, eq).trim(), item.slice(eq + 3).replace(/\\(.)/g, '$1'));
  }
  return { args, data };
}

describe('linux NetworkManager-strongswan', () => {
  it('saves the CA where vpn.data says; every key is one charon-nm reads', () => {
    const caFile = join(dir, 'odd, dir\\x', 'ca.crt');
    const { args, data } = runLinux(linuxIkev2Profile(input), caFile);
    expect(args.slice(0, 6)).toEqual(['connection', 'add', 'type', 'vpn', 'vpn-type', NM_STRONGSWAN_SERVICE]);
    for (const k of data.keys()) expect(NM_STRONGSWAN_KEYS, k).toContain(k);
    expect(NM_METHODS).toContain(data.get('method'));
    expect(Object.fromEntries(data)).toMatchObject({
      address: 'vpn.example.net',
      'remote-identity': 'vpn.example.net',
      certificate: caFile,
      method: 'eap',
      user: 'alice',
      virtual: 'yes',
      proposal: 'yes',
      ike: STRONGSWAN_IKE,
      esp: STRONGSWAN_ESP,
      'password-flags': '2',
    });
    expect(Buffer.from(new X509Certificate(readFileSync(caFile)).raw).equals(ca.der)).toBe(true);
  });

  it('without a CA: no certificate key (charon-nm then uses the system CAs)', () => {
    const { data } = runLinux(linuxIkev2Profile({ ...input, ca: undefined }), join(dir, 'unused.crt'));
    expect(data.has('certificate')).toBe(false);
  });

  it('odd user names reach vpn.data unchanged', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'ab\'"$`;, \\='.split('')), minLength: 1, maxLength: 16 }), (user) => {
        expect(runLinux(linuxIkev2Profile({ ...input, user, ca: undefined }), join(dir, 'u.crt')).data.get('user')).toBe(user);
      }),
      { numRuns: 25 },
    );
  });

  const nmcli = spawnSync('nmcli', ['--version'], { encoding: 'utf8' });
  it.skipIf(nmcli.error !== undefined)('nmcli --offline takes the command (when nmcli is installed)', () => {
    const script = linuxIkev2Profile(input).replace('nmcli connection add', 'nmcli --offline connection add');
    const out = execFileSync('sh', ['-c', script], { encoding: 'utf8', env: { ...process.env, CA_FILE: join(dir, 'nm-ca.crt') } });
    expect(out).toContain(`service-type=${NM_STRONGSWAN_SERVICE}`);
  });
});
