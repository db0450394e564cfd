export default {
  server: {
    port: 3002,
    proxy: { '/api': 'http://localhost:3002' },
  },
};
