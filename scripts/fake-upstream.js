// A stand-in for an email provider's REST API, for docker compose and manual runs: accepts every
// POST with 202 and a message id, or answers 503 for a share of them (FAIL_RATE, 0..1) so retries
// can be watched. It stores nothing and prints one line per request (method, path, status).
const { createServer } = require('node:http');
const { randomUUID } = require('node:crypto');

const port = Number(process.env.PORT ?? 8080);
const failRate = Number(process.env.FAIL_RATE ?? 0);

createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    const failed = request.method === 'POST' && Math.random() < failRate;
    const status = request.method !== 'POST' ? 200 : failed ? 503 : 202;
    response.writeHead(status, {
      'content-type': 'application/json',
      ...(failed ? { 'retry-after': '1' } : {}),
    });
    response.end(JSON.stringify(failed ? { error: 'unavailable' } : { id: randomUUID() }));
    console.log(`${request.method} ${request.url} ${status}`);
  });
}).listen(port, '0.0.0.0', () => console.log(`fake upstream on :${port}`));
