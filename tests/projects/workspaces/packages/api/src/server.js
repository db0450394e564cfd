const fastify = require('fastify')({ logger: true });

fastify.get('/healthz', async () => ({ status: 'ok' }));

fastify.listen({ port: 4000, host: '0.0.0.0' });
