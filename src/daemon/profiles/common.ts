import { parseIPv4 } from '../../core/ipv4.js';

/** What every client profile needs. The user's password is never part of it: the device asks. */
export interface ProfileInput {
  /** The address or host name clients dial (UDP 500/4500). */
  server: string;
  /** The group pre-shared key (IKEv1 Main Mode PSK). */
  psk: string;
  /** The PPP user name (must exist in the users file). */
  user: string;
  /** A name for the connection on the device; defaults to "l2tpsec <server>". */
  name?: string;
  /** True when the server sits behind NAT (drives the Windows registry note). */
  serverBehindNat?: boolean;
}

export type ProfileKind = 'apple' | 'windows' | 'linux' | 'android';
export const PROFILE_KINDS: readonly ProfileKind[] = ['apple', 'windows', 'linux', 'android'];

export function connectionName(p: { server: string; name?: string | undefined }): string {
  return p.name ?? `l2tpsec ${p.server}`;
}

/** RFC 1918 private blocks, plus RFC 6598 shared address space (carrier-grade NAT). */
export function isPrivateIPv4(addr: string): boolean {
  let v: number;
  try {
    v = parseIPv4(addr);
  } catch {
    return false;
  }
  const a = v >>> 24;
  const b = (v >>> 16) & 255;
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127);
}

export class ProfileError extends Error {
  override readonly name: string = 'ProfileError';
}

/**
 * The address clients dial: `--server`, else the config's `server.listen`
 * unless it is the wildcard (then the caller must say which address).
 */
export function resolveServer(serverOpt: string | undefined, listen: string): string {
  const s = serverOpt?.trim();
  if (s) {
    if (/[\s"'<>&]/.test(s)) throw new ProfileError(`--server ${JSON.stringify(s)}: not a host name or address`);
    return s;
  }
  if (listen === '0.0.0.0') {
    throw new ProfileError('server.listen is 0.0.0.0 (every address): say which address or host name clients dial with --server HOST');
  }
  return listen;
}

/**
 * Whether the server is behind NAT as far as we can tell from the inputs: the
 * address clients dial or the address we listen on is private, or the two differ
 * (a port forward from a public address to this host).
 */
export function serverBehindNat(server: string, listen: string): boolean {
  if (isPrivateIPv4(server) || isPrivateIPv4(listen)) return true;
  return listen !== '0.0.0.0' && server !== listen;
}

/** Which protocol a profile sets up. */
export type ProfileType = 'ikev2' | 'l2tp';
export const PROFILE_TYPES: readonly ProfileType[] = ['ikev2', 'l2tp'];

/** The CA certificate a device must trust to accept the server's certificate. */
export interface CaCertificate {
  /** DER bytes. */
  der: Buffer;
  /** The same as PEM text (one CERTIFICATE block). */
  pem: string;
  /** Its subject's common name, when it has one. */
  commonName?: string | undefined;
}

/** What an IKEv2 profile needs (EAP-MSCHAPv2 for the user, a certificate for the server). */
export interface Ikev2ProfileInput {
  /** The address or host name clients dial (UDP 500/4500). */
  server: string;
  /** The server's IKEv2 identity (IDr): `ikev2.local_id`, else the certificate's first DNS or IP SAN. */
  remoteId: string;
  /** The user name (EAP identity; must exist in the users file). */
  user: string;
  /** A name for the connection on the device; defaults to "l2tpsec <server>". */
  name?: string;
  /** The CA to install; undefined when the server's chain is publicly trusted. */
  ca?: CaCertificate | undefined;
  /** The server certificate's subject common name, when it has one. */
  serverCommonName?: string | undefined;
  /** The common name of the server certificate's issuer, when it has one. */
  issuerCommonName?: string | undefined;
}

/** The CN of an X509Certificate subject or issuer as node:crypto prints it ("CN=x\nO=y"). */
export function commonNameOf(dn: string): string | undefined {
  for (const line of dn.split('\n')) {
    const m = /^CN=(.*)$/.exec(line);
    if (m) return m[1];
  }
  return undefined;
}
