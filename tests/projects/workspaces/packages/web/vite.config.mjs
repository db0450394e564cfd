export default {
  server: {
    port: 3000,
    proxy: {
      '/api': 'http://127.0.0.1:4000',
    },
  },
};
