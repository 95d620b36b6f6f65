/**
 * Benchmark dispatcher: `npm run bench -- <name>` (default: all).
 * `path` (root: namespaces, TUN, nftables) runs only when named.
 * Each benchmark prints a table and writes bench/results/<name>-<timestamp>.json
 * and bench/results/latest-<name>.json.
 */
const BENCHES: Record<string, () => Promise<void>> = {
  esp: async () => (await import('./esp.js')).runEspBench(),
  dh: async () => (await import('./dh.js')).runDhBench(),
  path: async () => (await import('./path.js')).runPathBench(),
};

async function main(): Promise<void> {
  const which = process.argv[2] ?? 'all';
  // path needs root and takes minutes: only by name
  const names = which === 'all' ? Object.keys(BENCHES).filter((n) => n !== 'path') : [which];
  for (const n of names) {
    const run = BENCHES[n];
    if (!run) {
      console.error(`unknown benchmark ${JSON.stringify(n)}; known: ${Object.keys(BENCHES).join(', ')}, all`);
      process.exitCode = 2;
      return;
    }
    await run();
  }
}

await main();
