import { defineConfig, type UserConfig } from 'vite';

const API = 'http://localhost:8080' as const;

export default defineConfig({
  server: {
    port: 5180 as number,
    strictPort: true,
    proxy: {
      '/api': { target: API, changeOrigin: true } satisfies Record<string, unknown>,
    },
  },
} satisfies UserConfig);
