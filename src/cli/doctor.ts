import { checkConfig, formatProblem, hostCheckEnv } from '../daemon/check.js';
import { readConfigText } from '../daemon/config.js';
import type { Io } from './common.js';

/** `l2tpsec check [--config FILE] [--json]`: exit 1 on errors, 0 with warnings printed. */
export function checkCommand(file: string, json: boolean, io: Io): number {
  const text = readConfigText(file);
  const r = checkConfig(text, file, hostCheckEnv);
  if (json) {
    io.out.write(JSON.stringify({ ok: r.errors === 0, errors: r.errors, warnings: r.warnings, users: r.users, problems: r.problems }) + '\n');
  } else {
    for (const p of r.problems) io.out.write(formatProblem(p) + '\n');
    io.out.write(
      r.errors === 0
        ? `${file}: ok${r.warnings ? ` (${r.warnings} warning${r.warnings > 1 ? 's' : ''})` : ''}, ${r.users} user${r.users === 1 ? '' : 's'}\n`
        : `${file}: ${r.errors} error${r.errors > 1 ? 's' : ''}, ${r.warnings} warning${r.warnings === 1 ? '' : 's'}\n`,
    );
  }
  return r.errors === 0 ? 0 : 1;
}

/** `l2tpsec doctor [--config FILE] [--json]`: exit 1 when a finding is an error. */
export async function doctorCommand(file: string, json: boolean, io: Io): Promise<number> {
  const { existsSync } = await import('node:fs');
  const { loadConfig, defaultConfig } = await import('../daemon/config.js');
  const { diagnose, formatFinding } = await import('../daemon/doctor.js');
  const { gatherDoctorInputs } = await import('../daemon/doctor-gather.js');
  const cfg = existsSync(file) ? loadConfig(file) : defaultConfig();
  const { inputs, daemonRunning } = gatherDoctorInputs({ ikePort: cfg.server.ikePort, nattPort: cfg.server.nattPort });
  const findings = diagnose(inputs, { daemonRunning });
  const errors = findings.filter((f) => f.status === 'error').length;
  if (json) {
    io.out.write(JSON.stringify({ ok: errors === 0, daemonRunning, findings }) + '\n');
  } else {
    for (const f of findings) io.out.write(formatFinding(f) + '\n');
    if (typeof process.getuid === 'function' && process.getuid() !== 0) io.out.write('(not root: processes of other users and nft rules may be invisible)\n');
  }
  return errors === 0 ? 0 : 1;
}
