// Loads a Vite config the way Vite itself does, with the project's own Vite, and prints what
// trayapp needs from it as one JSON object on stdout:
//   {"vite": "8.3.8", "root": "...", "envDir": "...", "port": 5173|null, "host": "..."|true|null,
//    "proxy": {"/api": {"target": "http://localhost:5000", "rewrite": false, "ws": false}}}
// Usage: node vite_load.mjs CONFIG_FILE [MODE]. Run by trayapp without a shell, with a timeout.
// Errors go to stderr with exit code 1 (no Vite here, a config that throws, ...).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { format as formatUrl, pathToFileURL } from 'node:url';

const [configFile, mode = 'development'] = process.argv.slice(2);
const root = path.dirname(configFile);

function resolveVite(from) {
  const require = createRequire(path.join(from, 'noop.js'));
  try {
    return require.resolve('vite');
  } catch {
    // An ESM-only Vite whose exports have no "require" condition: read its package.json.
    const manifest = require.resolve('vite/package.json');
    const data = JSON.parse(fs.readFileSync(manifest, 'utf8'));
    let entry = data.exports?.['.'] ?? data.module ?? data.main;
    while (entry && typeof entry === 'object') entry = entry.import ?? entry.default ?? entry.node;
    return path.join(path.dirname(manifest), entry);
  }
}

function target(value) {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') return formatUrl(value);
  return null;
}

const vite = await import(pathToFileURL(resolveVite(root)).href);
const env = { command: 'serve', mode, isSsrBuild: false, isPreview: false };
const loaded = await vite.loadConfigFromFile(env, configFile, root, 'silent');
const config = loaded?.config ?? {};
const server = config.server ?? {};
const proxy = {};
for (const [key, value] of Object.entries(server.proxy ?? {})) {
  proxy[key] =
    typeof value === 'string'
      ? { target: value, rewrite: false, ws: false }
      : { target: target(value?.target), rewrite: typeof value?.rewrite === 'function', ws: Boolean(value?.ws) };
}
const configRoot = config.root ? path.resolve(root, config.root) : root;
process.stdout.write(
  JSON.stringify({
    vite: vite.version ?? null,
    root: configRoot,
    envDir: config.envDir ? path.resolve(configRoot, config.envDir) : configRoot,
    port: typeof server.port === 'number' ? server.port : null,
    host: typeof server.host === 'string' || typeof server.host === 'boolean' ? server.host : null,
    proxy,
  }),
);
