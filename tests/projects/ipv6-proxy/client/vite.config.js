import { defineConfig } from 'vite';

export default defineConfig({
  server: {
    port: 5173,
    proxy: {
      '/api': {
        target: 'http://[::1]:3001',
        changeOrigin: true,
      },
    },
  },
});
