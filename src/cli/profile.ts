import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { renderUnicodeCompact } from 'uqr';
import { CertProblem, certFilePaths, ID_IPV4_ADDR, loadServerIdentity, pemCertificates, type ServerIdentity } from '../daemon/certs.js';
import { loadConfig, type Config } from '../daemon/config.js';
import { loadUsers } from '../daemon/users.js';
import {
  commonNameOf,
  PROFILE_KINDS,
  renderIkev2Profile,
  renderProfile,
  resolveServer,
  serverBehindNat,
  type CaCertificate,
  type ProfileKind,
  type ProfileType,
} from '../daemon/profiles/index.js';
import type { Io, ProfileOptions } from './common.js';
import { CliError, UsageError } from './errors.js';

/**
 * `l2tpsec profile KIND USER [--type ikev2|l2tp]`: writes what the client needs (to
 * stdout, or to --out FILE with mode 0600). IKEv2 is the default when `[ikev2] enabled`.
 * Returns the exit code.
 */
export async function profileCommand(kind: string, user: string, o: ProfileOptions & { configFile: string }, io: Io): Promise<number> {
  if (!(PROFILE_KINDS as readonly string[]).includes(kind)) throw new UsageError(`unknown client kind ${JSON.stringify(kind)}: ${PROFILE_KINDS.join(', ')}`);
  if (o.type !== undefined && o.type !== 'ikev2' && o.type !== 'l2tp') throw new UsageError(`--type ${JSON.stringify(o.type)}: ikev2 or l2tp`);
  const cfg = loadConfig(o.configFile);
  const type: ProfileType = (o.type as ProfileType | undefined) ?? (cfg.ikev2.enabled ? 'ikev2' : 'l2tp');
  if (type === 'l2tp') {
    for (const [flag, set] of [
      ['--ca / --no-ca', o.ca !== undefined],
      ['--sswan', o.sswan],
      ['--psk', o.psk],
      ['--qr', o.qr !== undefined],
    ] as const) {
      if (set) throw new UsageError(`${flag} is for IKEv2 profiles (--type ikev2)${flag === '--qr' ? ": an L2TP profile holds the group's pre-shared key, don't publish it" : ''}`);
    }
  } else {
    if ((o.sswan || o.psk) && kind !== 'android') throw new UsageError(`${o.sswan ? '--sswan' : '--psk'} is for android profiles`);
    if (o.sswan && o.psk) throw new UsageError('--sswan and --psk: one or the other (the strongSwan app has no per-user PSK profile here)');
    if (o.qr !== undefined) {
      if (!o.out) throw new UsageError('--qr needs --out FILE: the QR code goes to the terminal, the profile to FILE (serve it at the URL)');
      let url: URL | undefined;
      try {
        url = new URL(o.qr);
      } catch {
        url = undefined;
      }
      if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) throw new UsageError(`--qr ${JSON.stringify(o.qr)}: an http:// or https:// URL`);
    }
    if (!cfg.ikev2.enabled) {
      throw new CliError(`IKEv2 is off in ${cfg.file}`, `set enabled = true under [ikev2] in ${cfg.file} (and make a certificate: l2tpsec cert init --name HOST --config ${cfg.file}), or use --type l2tp`);
    }
  }
  const store = await loadUsers(cfg.ppp.usersFile);
  if (!store.has(user)) {
    throw new CliError(`no user ${JSON.stringify(user)} in ${cfg.ppp.usersFile}`, `add it with: l2tpsec users add ${user} --config ${cfg.file}`);
  }
  const text = type === 'l2tp' ? l2tpText(kind as ProfileKind, user, o, cfg) : ikev2Text(kind as ProfileKind, user, o, cfg, io);
  if (o.out) {
    writeFileSync(o.out, text, { mode: 0o600 });
    // mode only applies to a new file: an existing one may be readable by others (the PSK is in it)
    chmodSync(o.out, 0o600);
    io.err.write(type === 'l2tp' ? `wrote ${o.out} (it contains the pre-shared key: send it privately)\n` : `wrote ${o.out}\n`);
    if (o.qr !== undefined) io.out.write(`${qrText(o.qr)}\nScan it on the device once ${o.out} is served at ${o.qr}\n`);
  } else {
    io.out.write(text);
  }
  return 0;
}

function l2tpText(kind: ProfileKind, user: string, o: ProfileOptions, cfg: Config): string {
  const server = resolveServer(o.server, cfg.server.listen);
  return renderProfile(kind, {
    server,
    psk: cfg.ipsec.psk,
    user,
    ...(o.name !== undefined ? { name: o.name } : {}),
    serverBehindNat: serverBehindNat(server, cfg.server.listen),
  });
}

/** The IDr text: an IPv4 address or a host name. */
function remoteIdText(id: ServerIdentity['localId']): string {
  return id.idType === ID_IPV4_ADDR ? [...id.data].join('.') : id.data.toString('ascii');
}

function ikev2Text(kind: ProfileKind, user: string, o: ProfileOptions, cfg: Config, io: Io): string {
  let identity: ServerIdentity;
  try {
    identity = loadServerIdentity(cfg);
  } catch (e) {
    if (e instanceof CertProblem) throw new CliError(e.message, `l2tpsec check --config ${cfg.file} lists every problem`);
    throw e;
  }
  const warn = (s: string): void => void io.err.write(`warning: ${s}\n`);
  for (const w of identity.warnings) warn(w.message);
  const remoteId = remoteIdText(identity.localId);
  // Devices check the certificate against what they dial: the server's own name by default.
  const server = o.server !== undefined ? resolveServer(o.server, cfg.server.listen) : remoteId;
  if (server !== remoteId && !identity.sans.includes(`DNS:${server}`) && !identity.sans.includes(`IP Address:${server}`)) {
    warn(`${server} is not among the server certificate's names (${identity.sans.join(', ') || 'none'}): Windows and Android check the certificate against the address they dial`);
  }
  const chain = identity.certificates.map((der) => new X509Certificate(der));
  const leaf = chain[0]!;
  const ca = o.psk ? undefined : chooseCa(o.ca, cfg, chain, warn);
  return renderIkev2Profile(
    kind,
    {
      server,
      remoteId,
      user,
      ...(o.name !== undefined ? { name: o.name } : {}),
      ca,
      serverCommonName: commonNameOf(leaf.subject),
      issuerCommonName: commonNameOf(leaf.issuer),
    },
    { sswan: o.sswan === true, psk: o.psk === true },
  );
}

function caOf(der: Buffer, cert: X509Certificate): CaCertificate {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return { der, pem: `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`, commonName: commonNameOf(cert.subject) };
}

/** Whether `ca` signed the top of the chain (or is it). */
function signedChain(ca: X509Certificate, chain: X509Certificate[]): boolean {
  const top = chain[chain.length - 1]!;
  if (Buffer.from(top.raw).equals(Buffer.from(ca.raw))) return true;
  return top.checkIssued(ca) && top.verify(ca.publicKey);
}

/**
 * The CA the profile carries: --ca FILE, else the ca.crt that `cert init` wrote next to
 * the config, else a self-signed root at the end of the configured chain; none with
 * --no-ca, or when there is no such file and the chain ends in a certificate issued by
 * someone else (taken to be a publicly trusted CA: said on stderr).
 */
function chooseCa(opt: string | false | undefined, cfg: Config, chain: X509Certificate[], warn: (s: string) => void): CaCertificate | undefined {
  if (opt === false) return undefined;
  const top = chain[chain.length - 1]!;
  const file = typeof opt === 'string' ? resolve(opt) : certFilePaths(cfg.file).paths['ca.crt'];
  if (typeof opt === 'string' || existsSync(file)) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new CliError(`${file}: cannot read the CA certificate: ${(e as Error).message}`, '--ca FILE names another, --no-ca leaves it out');
    }
    const der = pemCertificates(text)[0]?.der;
    let ca: X509Certificate | undefined;
    try {
      ca = der ? new X509Certificate(der) : undefined;
    } catch {
      ca = undefined;
    }
    if (!der || !ca) throw new CliError(`${file}: no readable PEM certificate in it`, '--ca FILE names the CA certificate (PEM), --no-ca leaves it out');
    if (!signedChain(ca, chain)) {
      throw new CliError(
        `${file} (${ca.subject.replace(/\n/g, ', ')}) did not sign the server's certificate chain in ${cfg.ikev2.certificate} (issuer ${top.issuer.replace(/\n/g, ', ')})`,
        "--ca FILE names the CA that did, --no-ca leaves the CA out when the server's chain is publicly trusted",
      );
    }
    return caOf(der, ca);
  }
  if (top.checkIssued(top) && top.verify(top.publicKey)) return caOf(Buffer.from(top.raw), top);
  warn(`no CA in the profile: there is no ${file}, and ${top.issuer.replace(/\n/g, ', ')} (the issuer of ${cfg.ikev2.certificate}) is taken to be publicly trusted; --ca FILE puts a CA in`);
  return undefined;
}

/** A QR code of `text` in half-block characters (two modules a line), with a quiet zone. */
export function qrText(text: string): string {
  return renderUnicodeCompact(text, { border: 2, ecc: 'M' });
}
