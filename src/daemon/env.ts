import { parseIPv4 } from '../core/ipv4.js';
import { checkUserName } from './users.js';

/**
 * First-run settings taken from the environment variables of hwdsl2/setup-ipsec-vpn's
 * Docker image, so a container can switch to l2tpsec without new variables:
 *
 *   VPN_IPSEC_PSK       the pre-shared key
 *   VPN_USER            the first user's name
 *   VPN_PASSWORD        the first user's password (needs VPN_USER)
 *   VPN_ADDL_USERS      more user names, separated by spaces
 *   VPN_ADDL_PASSWORDS  their passwords, separated by spaces, same order and count
 *   VPN_DNS_SRV1        first DNS server given to clients
 *   VPN_DNS_SRV2        second DNS server (used only with VPN_DNS_SRV1)
 *
 * They are read only when no config file exists yet; a config file always wins.
 */
export interface FirstRunEnv {
  psk: string | undefined;
  users: Array<{ name: string; password: string }>;
  dns: string[] | undefined;
}

export class EnvError extends Error {
  override readonly name: string = 'EnvError';
}

function val(env: Record<string, string | undefined>, k: string): string | undefined {
  const v = env[k]?.trim();
  return v ? v : undefined;
}

function words(s: string | undefined): string[] {
  return s ? s.split(/\s+/).filter((w) => w.length > 0) : [];
}

/** Parse the VPN_* variables; throws EnvError naming the variable on a bad value. */
export function parseFirstRunEnv(env: Record<string, string | undefined>): FirstRunEnv {
  const psk = val(env, 'VPN_IPSEC_PSK');
  if (psk !== undefined && /[\r\n]/.test(psk)) throw new EnvError('VPN_IPSEC_PSK must be one line');
  const users: Array<{ name: string; password: string }> = [];
  const user = val(env, 'VPN_USER');
  const password = val(env, 'VPN_PASSWORD');
  if (password !== undefined && user === undefined) throw new EnvError('VPN_PASSWORD is set but VPN_USER is not');
  if (user !== undefined && password === undefined) throw new EnvError('VPN_USER is set but VPN_PASSWORD is not');
  if (user !== undefined && password !== undefined) users.push({ name: user, password });
  const addlUsers = words(env['VPN_ADDL_USERS']);
  const addlPasswords = words(env['VPN_ADDL_PASSWORDS']);
  if (addlUsers.length !== addlPasswords.length) {
    throw new EnvError(`VPN_ADDL_USERS has ${addlUsers.length} names but VPN_ADDL_PASSWORDS has ${addlPasswords.length} passwords`);
  }
  addlUsers.forEach((name, i) => users.push({ name, password: addlPasswords[i]! }));
  const seen = new Set<string>();
  for (const u of users) {
    const problem = checkUserName(u.name);
    if (problem) throw new EnvError(`user name ${JSON.stringify(u.name)}: ${problem}`);
    if (seen.has(u.name)) throw new EnvError(`user ${JSON.stringify(u.name)} is listed twice`);
    seen.add(u.name);
  }
  const dns1 = val(env, 'VPN_DNS_SRV1');
  const dns2 = val(env, 'VPN_DNS_SRV2');
  for (const [k, v] of [['VPN_DNS_SRV1', dns1], ['VPN_DNS_SRV2', dns2]] as const) {
    if (v === undefined) continue;
    try {
      parseIPv4(v);
    } catch {
      throw new EnvError(`${k} is not an IPv4 address: ${JSON.stringify(v)}`);
    }
  }
  const dns = dns1 !== undefined ? (dns2 !== undefined ? [dns1, dns2] : [dns1]) : undefined;
  return { psk, users, dns };
}
