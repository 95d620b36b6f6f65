/**
 * The layering of ARCHITECTURE (folders and what each may import): protocol folders
 * and src/io import only src/core; src/core imports nothing of ours; src/cli only
 * src/daemon; src/daemon wires everything. Checked on the import specifiers of src.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

const MAY_IMPORT: Record<string, string[]> = {
  core: [],
  ike: ['core'],
  ikev2: ['core'],
  esp: ['core'],
  l2tp: ['core'],
  ppp: ['core'],
  nat: ['core'],
  radius: ['core'],
  io: ['core'],
  session: ['core', 'ike', 'ikev2', 'esp', 'l2tp', 'ppp', 'nat'],
  cli: ['daemon'],
  // the host reaches the protocols only through the pipeline (ppp: the users file's NT hashes;
  // radius: the RADIUS client, a host-side service, not a protocol of the packet path)
  daemon: ['core', 'session', 'ppp', 'io', 'radius'],
};

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Relative import specifiers of a module (static, re-exports and dynamic imports). */
export function specifiers(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/\b(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) out.push(m[1]!);
  return out;
}

const folderOf = (file: string): string => relative(SRC, file).split(sep)[0]!;

describe('architecture', () => {
  it('the import scanner sees static, type-only, re-export and dynamic imports', () => {
    expect(specifiers("import { a } from '../core/x.js';\nimport type { B } from '../esp/y.js';\nexport { c } from './z.js';\nconst d = await import('../io/w.js');")).toEqual([
      '../core/x.js',
      '../esp/y.js',
      './z.js',
      '../io/w.js',
    ]);
  });

  it('every folder of src imports only what ARCHITECTURE allows', () => {
    const violations: string[] = [];
    const all = files(SRC);
    expect(all.length).toBeGreaterThan(50);
    for (const file of all) {
      const from = folderOf(file);
      const allowed = MAY_IMPORT[from];
      if (!allowed) {
        violations.push(`${relative(SRC, file)}: folder ${from} is not in the table`);
        continue;
      }
      for (const spec of specifiers(readFileSync(file, 'utf8'))) {
        const to = folderOf(resolve(dirname(file), spec));
        if (to !== from && !allowed.includes(to)) violations.push(`${relative(SRC, file)} imports ${spec} (${from} may import ${allowed.join(', ') || 'nothing'})`);
      }
    }
    expect(violations).toEqual([]);
  });
});
