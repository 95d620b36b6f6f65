import { chmodSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig } from '../daemon/config.js';
import { loadUsers } from '../daemon/users.js';
import { PROFILE_KINDS, ProfileError, renderProfile, resolveServer, serverBehindNat, type ProfileKind } from '../daemon/profiles/index.js';

export const PROFILE_USAGE = 'l2tpsec profile apple|windows|linux|android USER [--config FILE] [--server HOST] [--name NAME] [--out FILE]';

/**
 * `l2tpsec profile KIND USER`: writes what the client needs (to stdout, or to
 * --out FILE with mode 0600 since it holds the PSK). Returns the exit code.
 */
export async function profileCommand(args: string[], configFile: (v: string | undefined) => string): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      server: { type: 'string' },
      name: { type: 'string' },
      out: { type: 'string', short: 'o' },
    },
  });
  const [kind, user, ...extra] = positionals;
  if (!kind || !(PROFILE_KINDS as readonly string[]).includes(kind)) {
    throw new ProfileError(`profile needs a client kind: ${PROFILE_KINDS.join(', ')}\n  ${PROFILE_USAGE}`);
  }
  if (!user) throw new ProfileError(`profile ${kind} needs a USER\n  ${PROFILE_USAGE}`);
  if (extra.length > 0) throw new ProfileError(`unexpected argument ${JSON.stringify(extra[0])}\n  ${PROFILE_USAGE}`);
  const cfg = loadConfig(configFile(values.config));
  const store = await loadUsers(cfg.ppp.usersFile);
  if (!store.has(user)) {
    throw new ProfileError(`no user ${JSON.stringify(user)} in ${cfg.ppp.usersFile} (add it with: l2tpsec users add ${user} --config ${cfg.file})`);
  }
  const server = resolveServer(values.server, cfg.server.listen);
  const text = renderProfile(kind as ProfileKind, {
    server,
    psk: cfg.ipsec.psk,
    user,
    ...(values.name !== undefined ? { name: values.name } : {}),
    serverBehindNat: serverBehindNat(server, cfg.server.listen),
  });
  if (values.out) {
    writeFileSync(values.out, text, { mode: 0o600 });
    // mode only applies to a new file: an existing one may be readable by others (the PSK is in it)
    chmodSync(values.out, 0o600);
    process.stderr.write(`wrote ${values.out} (it contains the pre-shared key: send it privately)\n`);
  } else {
    process.stdout.write(text);
  }
  return 0;
}
