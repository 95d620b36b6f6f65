/**
 * Diffie-Hellman benchmark (`npm run bench -- dh`): CPU per responder key pair plus shared
 * secret for each IKE group, through src/ike/crypto/dh.ts (one cached DiffieHellman per MODP
 * group), next to what each handshake cost when it created its own object with
 * createDiffieHellman(prime, g) (OpenSSL checks the prime every time: tens of ms for modp1024).
 * Writes bench/results/dh-<timestamp>.json and bench/results/latest-dh.json.
 */
import { createDiffieHellman, getDiffieHellman, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DH_GROUPS, generateKeyPair } from '../src/ike/crypto/dh.js';

const HERE = dirname(fileURLToPath(import.meta.url));

function cpuMsPer(n: number, fn: () => void): number {
  fn(); // warm-up (and the one-time parameter check of the cached object)
  const t = process.cpuUsage();
  for (let i = 0; i < n; i++) fn();
  const u = process.cpuUsage(t);
  return (u.user + u.system) / 1000 / n;
}

export async function runDhBench(): Promise<void> {
  const started = Date.now();
  const rows: Array<{ group: number; name: string; ms_per_handshake: number; uncached_ms?: number; speedup?: number }> = [];
  for (const id of [2, 5, 14, 19, 20]) {
    const g = DH_GROUPS[id]!;
    const peer = generateKeyPair(g, randomBytes).publicValue;
    const ms = cpuMsPer(g.kind === 'modp' && id !== 14 ? 200 : 50, () => {
      generateKeyPair(g, randomBytes).computeShared(peer);
    });
    const row: (typeof rows)[number] = { group: id, name: g.node, ms_per_handshake: Number(ms.toFixed(3)) };
    if (g.kind === 'modp') {
      const named = getDiffieHellman(g.node);
      const prime = named.getPrime();
      const gen = named.getGenerator();
      const old = cpuMsPer(5, () => {
        const dh = createDiffieHellman(prime, gen);
        dh.setPrivateKey(randomBytes(32));
        dh.generateKeys();
        dh.computeSecret(peer);
      });
      row.uncached_ms = Number(old.toFixed(3));
      row.speedup = Number((old / ms).toFixed(1));
    }
    rows.push(row);
  }
  console.table(rows);
  const result = { bench: 'dh', date: new Date(started).toISOString(), node: process.version, cpu: cpus()[0]?.model, note: 'CPU ms per responder DH (key pair + shared secret)', rows };
  const dir = join(HERE, 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date(started).toISOString().replace(/[:.]/g, '-');
  const json = `${JSON.stringify(result, null, 2)}\n`;
  writeFileSync(join(dir, `dh-${stamp}.json`), json);
  writeFileSync(join(dir, 'latest-dh.json'), json);
  console.log(`wrote bench/results/dh-${stamp}.json`);
}
