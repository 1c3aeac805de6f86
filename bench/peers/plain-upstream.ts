// The delivery target: an HTTP server that takes every POST with 202, as a provider's API would.
import { createServer } from 'node:http';

const port = Number(process.argv[2]);
let received = 0;
const server = createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    received++;
    response.writeHead(202, { 'content-type': 'application/json' }).end('{"id":"ok"}');
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => console.log('listening'));
process.on('message', () => process.send?.({ received }));
