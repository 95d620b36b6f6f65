import { readFile } from 'node:fs/promises';
import { formatProblem, staticAddressProblems, usersProblems, type Problem } from './check.js';
import type { Config } from './config.js';
import type { ControlTarget } from './control-types.js';

/**
 * A reload takes the users file only when `check` would accept it: a parse error, or a
 * static address outside the pool, on the server's tunnel address, the network or the
 * broadcast address (a user who could log in and then be thrown out) refuses the
 * reload, naming every problem, and the daemon keeps the users it had.
 */

export class ReloadRefused extends Error {
  override readonly name: string = 'ReloadRefused';
  constructor(readonly problems: Problem[]) {
    super(`the users file was not reloaded (the daemon keeps the users it had): ${problems.map(formatProblem).join('; ')}`);
  }
}

/** The errors `check` reports for the users file of `cfg` (a missing file has none: no users). */
export async function usersFileErrors(cfg: Config): Promise<Problem[]> {
  let text: string;
  try {
    text = await readFile(cfg.ppp.usersFile, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    return [{ severity: 'error', file: cfg.ppp.usersFile, line: undefined, key: undefined, message: `cannot read: ${(e as Error).message}` }];
  }
  const u = usersProblems(text, cfg.ppp.usersFile);
  return [...u.problems, ...staticAddressProblems(cfg, u.store, text)].filter((p) => p.severity === 'error');
}

/** Checks the users file, then reloads; throws ReloadRefused instead of reloading a file with errors. */
export async function checkedReload(target: Pick<ControlTarget, 'reload'>, cfg: Config): Promise<{ users: number }> {
  const errors = await usersFileErrors(cfg);
  if (errors.length > 0) throw new ReloadRefused(errors);
  return target.reload();
}
