import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import { CertExistsError, certInit, isHostName, isIPv4Address, KEY_BITS, MAX_SERVER_DAYS, type KeyBits } from '../daemon/certs.js';
import { loadConfig } from '../daemon/config.js';
import type { Io } from './common.js';
import { CliError, UsageError } from './errors.js';

export interface CertInitCliOptions {
  name: string;
  ip?: string[];
  days?: number;
  keyBits?: number;
  intermediate?: boolean;
  force?: boolean;
}

/** `l2tpsec cert init`: ca.crt, ca.key, server.crt and server.key next to the config. */
export async function certInitCommand(configFile: string, o: CertInitCliOptions, io: Io): Promise<number> {
  if (!isHostName(o.name)) throw new UsageError(`--name must be a host name (what the devices dial), got ${JSON.stringify(o.name)}`);
  if (o.days !== undefined && (o.days < 1 || o.days > MAX_SERVER_DAYS)) throw new UsageError(`--days must be 1 to ${MAX_SERVER_DAYS}: Apple devices refuse a server certificate valid for longer`);
  for (const ip of o.ip ?? []) if (!isIPv4Address(ip)) throw new UsageError(`--ip must be an IPv4 address, got ${JSON.stringify(ip)}`);
  if (o.keyBits !== undefined && !(KEY_BITS as readonly number[]).includes(o.keyBits)) throw new UsageError(`--key-bits must be ${KEY_BITS.join(', ')}, got ${o.keyBits}`);
  let paths;
  try {
    paths = await certInit(configFile, {
      name: o.name,
      ips: o.ip ?? [],
      ...(o.days !== undefined ? { days: o.days } : {}),
      ...(o.keyBits !== undefined ? { keyBits: o.keyBits as KeyBits } : {}),
      intermediate: o.intermediate === true,
      force: o.force === true,
    });
  } catch (e) {
    if (e instanceof CertExistsError) throw new CliError(`${e.message}: not overwritten`, 'to replace them (the devices then need the new ca.crt): add --force');
    throw e;
  }
  io.out.write(
    `Wrote ${paths['ca.crt']} (CA certificate), ${paths['ca.key']} (CA key, mode 0600),\n` +
      `      ${paths['server.crt']}${o.intermediate ? ' (with the intermediate CA after it)' : ''} and ${paths['server.key']} (mode 0600) for ${[o.name, ...(o.ip ?? [])].join(', ')}, valid ${o.days ?? MAX_SERVER_DAYS} days.\n` +
      `Give the devices ${paths['ca.crt']} (only that one: the keys stay on the server); they dial ${o.name}.\n`,
  );
  const enabled = existsSync(configFile) ? tryEnabled(configFile) : false;
  if (!enabled) {
    const rel = (p: string): string => relative(paths['ca.crt'].replace(/ca\.crt$/, ''), p);
    io.out.write(`To serve IKEv2, put this in ${configFile}:\n[ikev2]\nenabled = true\ncertificate = "${rel(paths['server.crt'])}"\nprivate_key = "${rel(paths['server.key'])}"\n`);
  }
  return 0;
}

function tryEnabled(file: string): boolean {
  try {
    return loadConfig(file).ikev2.enabled;
  } catch {
    return false;
  }
}
