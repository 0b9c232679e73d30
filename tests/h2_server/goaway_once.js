// A TCP server (Node's own net module, no packages) in front of a gRPC
// server, standing in for a server that goes away before processing a
// stream. On its first connection it speaks just enough HTTP/2 to answer
// the client's SETTINGS, and when the first stream's HEADERS arrive it
// sends GOAWAY with last-stream-id 0 (no stream was processed) and closes:
// the client knows the stream never reached the server and retries it
// transparently on a new connection. Every later connection is piped to
// 127.0.0.1:<--target>.
//
// Prints {"port": N} once listening on 127.0.0.1; answers the stdin line
// "stats" with {"connections": C, "goaways": G}; exits when stdin closes.
'use strict';
const net = require('net');
const readline = require('readline');

const arg = (name) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : undefined;
};
const target = Number(arg('target'));
const stats = { connections: 0, goaways: 0 };
const PREFACE = 24;  // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

function frame(type, flags, stream, payload) {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header.writeUInt8(type, 3);
  header.writeUInt8(flags, 4);
  header.writeUInt32BE(stream, 5);
  return Buffer.concat([header, payload]);
}

function goAwayFirstStream(socket) {
  let buffered = Buffer.alloc(0);
  let prefaceSeen = false;
  socket.write(frame(4, 0, 0, Buffer.alloc(0)));  // our SETTINGS
  socket.on('data', (data) => {
    buffered = Buffer.concat([buffered, data]);
    if (!prefaceSeen) {
      if (buffered.length < PREFACE) return;
      buffered = buffered.subarray(PREFACE);
      prefaceSeen = true;
    }
    while (buffered.length >= 9) {
      const length = buffered.readUIntBE(0, 3);
      if (buffered.length < 9 + length) return;
      const type = buffered.readUInt8(3);
      const flags = buffered.readUInt8(4);
      buffered = buffered.subarray(9 + length);
      if (type === 4 && (flags & 1) === 0) {
        socket.write(frame(4, 1, 0, Buffer.alloc(0)));  // SETTINGS ack
      } else if (type === 1) {  // HEADERS: the first stream
        const payload = Buffer.alloc(8);  // last-stream-id 0, NO_ERROR
        socket.write(frame(7, 0, 0, payload));
        stats.goaways++;
        socket.end();
        return;
      }
    }
  });
}

const server = net.createServer((socket) => {
  socket.on('error', () => {});
  stats.connections++;
  if (stats.connections === 1) {
    goAwayFirstStream(socket);
    return;
  }
  const upstream = net.connect(target, '127.0.0.1');
  upstream.on('error', () => socket.destroy());
  socket.pipe(upstream);
  upstream.pipe(socket);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'stats') process.stdout.write(JSON.stringify(stats) + '\n');
});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
