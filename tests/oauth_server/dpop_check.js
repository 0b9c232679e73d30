// Checks DPoP proofs (RFC 9449 section 4.3) the way a token endpoint or a
// resource server must, with `jose`: an independent verifier for
// authrefresh's proofs, so that its tests do not check its own signatures
// with its own code.
//
//   node dpop_check.js
//
// Prints {"port": 0} when ready, then answers each stdin line, a JSON
// object {proof, htm, htu, nonce?, access_token?, jkt?, now?}, with one JSON
// line {ok, error?, alg?, jkt?, jwk?}. It checks: the signature with the
// embedded public key (no private members), typ "dpop+jwt", an asymmetric
// alg, htm and htu equal to the expected ones, iat within 60 s of `now`
// (seconds; default: this machine's clock), a jti never seen before by this
// process, the nonce when one is expected (and none otherwise), ath =
// base64url(SHA-256(access_token)) when a token is given (and none
// otherwise), and the key's RFC 7638 thumbprint when `jkt` is given (a
// token's cnf.jkt). It never prints a proof or a token. Exits when stdin
// closes.
'use strict';
const readline = require('readline');
const { createDpopVerifier } = require('./dpop_verify');

const verify = createDpopVerifier();

const lines = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on('line', (line) => {
  queue = queue.then(async () => {
    let answer;
    try {
      answer = await verify(JSON.parse(line));
    } catch (e) {
      answer = { ok: false, error: `bad command: ${e.name}` };
    }
    process.stdout.write(JSON.stringify(answer) + '\n');
  });
});
lines.on('close', () => queue.then(() => process.exit(0)));
process.stdout.write(JSON.stringify({ port: 0 }) + '\n');
