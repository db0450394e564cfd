// The Vite dev server of trayapp's test stack. Like a typical MERN client, it proxies /api to the
// backend; port, address and proxy target come from the environment so tests can pick free
// ports and point the proxy wherever a case needs (a wrong port, http://localhost:PORT, [::1]):
//
//   CLIENT_PORT        dev server port (default 5173); strictPort, so a taken port is an error
//   CLIENT_HOST        address to listen on (default: Vite's own, "localhost"); --host overrides
//   API_PROXY_TARGET   where /api goes (default http://localhost:5000, the tutorials' value)
//   VITE_CACHE_DIR     Vite's cache folder (default node_modules/.vite)
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  cacheDir: process.env.VITE_CACHE_DIR || undefined,
  clearScreen: false,
  server: {
    port: Number(process.env.CLIENT_PORT || 5173),
    strictPort: true,
    host: process.env.CLIENT_HOST || undefined,
    open: false,
    proxy: {
      '/api': {
        target: process.env.API_PROXY_TARGET || 'http://localhost:5000',
        changeOrigin: true,
      },
    },
  },
});
