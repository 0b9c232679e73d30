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
const crypto = require('crypto');
const readline = require('readline');
const jose = require('jose');

const seenJti = new Set();
const ALGORITHMS = ['ES256', 'EdDSA', 'RS256', 'PS256'];

async function check(req) {
  let verified;
  try {
    verified = await jose.jwtVerify(req.proof, jose.EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: ALGORITHMS,
      clockTolerance: 0,
    });
  } catch (e) {
    return { ok: false, error: `not a valid DPoP proof: ${e.code || e.name}` };
  }
  const { payload, protectedHeader } = verified;
  const jwk = protectedHeader.jwk;
  if (jwk.d !== undefined || jwk.p !== undefined) {
    return { ok: false, error: 'the jwk header holds a private key' };
  }
  const jkt = await jose.calculateJwkThumbprint(jwk, 'sha256');
  const fail = (error) => ({ ok: false, error, alg: protectedHeader.alg, jkt });
  if (payload.htm !== req.htm) return fail('htm does not match');
  if (payload.htu !== req.htu) return fail('htu does not match');
  const now = req.now !== undefined ? req.now : Math.floor(Date.now() / 1000);
  if (typeof payload.iat !== 'number' || Math.abs(payload.iat - now) > 60) {
    return fail('iat is outside the 60 s window');
  }
  if (typeof payload.jti !== 'string' || payload.jti.length < 16) return fail('no jti');
  if (seenJti.has(payload.jti)) return fail('jti replayed');
  seenJti.add(payload.jti);
  if ((req.nonce || undefined) !== payload.nonce) return fail('nonce does not match');
  const ath = req.access_token
    ? crypto.createHash('sha256').update(req.access_token).digest('base64url')
    : undefined;
  if (ath !== payload.ath) return fail('ath does not match');
  if (req.jkt !== undefined && req.jkt !== jkt) return fail('the key is not the token\'s (cnf.jkt)');
  const allowed = new Set(['typ', 'alg', 'jwk']);
  for (const name of Object.keys(protectedHeader)) {
    if (!allowed.has(name)) return fail(`unexpected header ${name}`);
  }
  return { ok: true, alg: protectedHeader.alg, jkt, jwk };
}

const lines = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on('line', (line) => {
  queue = queue.then(async () => {
    let answer;
    try {
      answer = await check(JSON.parse(line));
    } catch (e) {
      answer = { ok: false, error: `bad command: ${e.name}` };
    }
    process.stdout.write(JSON.stringify(answer) + '\n');
  });
});
lines.on('close', () => queue.then(() => process.exit(0)));
process.stdout.write(JSON.stringify({ port: 0 }) + '\n');
