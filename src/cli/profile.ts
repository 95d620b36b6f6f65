import { chmodSync, writeFileSync } from 'node:fs';
import { loadConfig } from '../daemon/config.js';
import { loadUsers } from '../daemon/users.js';
import { PROFILE_KINDS, renderProfile, resolveServer, serverBehindNat, type ProfileKind } from '../daemon/profiles/index.js';
import type { Io, ProfileOptions } from './common.js';
import { CliError, UsageError } from './errors.js';

/**
 * `l2tpsec profile KIND USER`: writes what the client needs (to stdout, or to
 * --out FILE with mode 0600 since it holds the PSK). Returns the exit code.
 */
export async function profileCommand(kind: string, user: string, o: ProfileOptions & { configFile: string }, io: Io): Promise<number> {
  if (!(PROFILE_KINDS as readonly string[]).includes(kind)) throw new UsageError(`unknown client kind ${JSON.stringify(kind)}: ${PROFILE_KINDS.join(', ')}`);
  const cfg = loadConfig(o.configFile);
  const store = await loadUsers(cfg.ppp.usersFile);
  if (!store.has(user)) {
    throw new CliError(`no user ${JSON.stringify(user)} in ${cfg.ppp.usersFile}`, `add it with: l2tpsec users add ${user} --config ${cfg.file}`);
  }
  const server = resolveServer(o.server, cfg.server.listen);
  const text = renderProfile(kind as ProfileKind, {
    server,
    psk: cfg.ipsec.psk,
    user,
    ...(o.name !== undefined ? { name: o.name } : {}),
    serverBehindNat: serverBehindNat(server, cfg.server.listen),
  });
  if (o.out) {
    writeFileSync(o.out, text, { mode: 0o600 });
    // mode only applies to a new file: an existing one may be readable by others (the PSK is in it)
    chmodSync(o.out, 0o600);
    io.err.write(`wrote ${o.out} (it contains the pre-shared key: send it privately)\n`);
  } else {
    io.out.write(text);
  }
  return 0;
}
