// DPoP proof verification (RFC 9449 section 4.3) with `jose`, shared by
// dpop_check.js (a verifier a test drives line by line) and server.js's
// token endpoint. A verifier remembers every jti it accepted.
//
// verify({proof, htm, htu, nonce? | nonces?, access_token?, jkt?, now?}) resolves to
// {ok: true, alg, jkt, jwk} or {ok: false, error, alg?, jkt?} (`nonces`: any
// of them is accepted, as a server does for a while after it rotated); `error` never
// quotes the proof or a token.
'use strict';
const crypto = require('crypto');
const jose = require('jose');

function createDpopVerifier() {
  const seenJti = new Set();
  const ALGORITHMS = ['ES256', 'EdDSA', 'RS256', 'PS256'];

  return async function verify(req) {
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
    const nonces = Array.isArray(req.nonces) ? req.nonces : [req.nonce || undefined];
    if (!nonces.includes(payload.nonce)) return fail('nonce does not match');
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
  };
}

module.exports = { createDpopVerifier };
