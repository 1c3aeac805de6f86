// The SMTP delivery target: a relay (nodemailer's smtp-server) on loopback that takes every
// message with 250 and a queue id, as a provider's relay would. Plaintext: the benchmark measures
// the SMTP exchange and the pool, not TLS. Asked over IPC, it tells what it received and over how
// many connections.
import { SMTPServer } from 'smtp-server';

const port = Number(process.argv[2]);
let received = 0;
let connections = 0;
let open = 0;
let maxOpen = 0;
const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  onConnect: (_session, callback) => {
    connections++;
    maxOpen = Math.max(maxOpen, ++open);
    callback();
  },
  onClose: () => {
    open--;
  },
  onData: (stream, _session, callback) => {
    stream.resume();
    stream.on('end', () => callback(null, `Ok: queued as B${++received}`));
  },
});
server.listen(port, '127.0.0.1', () => console.log('listening'));
// maxOpen counts from the previous question, so each run reports its own.
process.on('message', () => {
  process.send?.({ received, connections, maxOpen });
  maxOpen = open;
});
