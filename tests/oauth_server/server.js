// A real OAuth 2.0 authorization server for authrefresh's HTTP refresher
// tests: @node-oauth/oauth2-server's token endpoint (RFC 6749) with rotating
// refresh tokens, the client_credentials grant, the JWT bearer grant
// (RFC 7523 §2.1) and token exchange (RFC 8693), client authentication by
// secret, private_key_jwt (RFC 7523 §2.2) or tls_client_auth (RFC 8705), plus
// test-only control endpoints under /test/. Every JWT it receives is verified
// with `jose`.
//
//   node server.js [--tls-cert=FILE --tls-key=FILE [--client-ca=FILE]]
//                  [--access-ttl=SECONDS]
//
//   --tls-cert/--tls-key  serve HTTPS with this certificate and key (PEM);
//   --client-ca           (with TLS) request a client certificate and verify it
//                         against these CA certificates (PEM); an untrusted or
//                         missing certificate still connects, but a
//                         tls_client_auth client is then refused;
//   --access-ttl          access token lifetime, 3600 by default.
//
// Listens on 127.0.0.1 with a free port and prints one JSON line
// {"port": N} to stdout once it accepts connections. Exits when its stdin
// closes, so a test that dies never leaves it running. It never prints a
// token, key or assertion.
//
// Endpoints:
//   POST /token            the real token endpoint; grant_type refresh_token,
//                          client_credentials,
//                          urn:ietf:params:oauth:grant-type:jwt-bearer
//                          (body `assertion`, checked against the key of
//                          /test/register-issuer) or
//                          urn:ietf:params:oauth:grant-type:token-exchange
//                          (subject_token[_type], actor_token[_type],
//                          requested_token_type; tokens from
//                          /test/mint-subject-token). The two URN grants need
//                          no client authentication (RFC 7523 §3.1, RFC 8693
//                          §2.1): a request naming no client at all is served
//                          as the built-in public client `anonymous`;
//   POST /introspect       header `authorization: Bearer ...` -> 200
//                          {"active":true} or 401 (a resource server's check,
//                          by the library's own authenticate());
//   POST /test/seed        {client_id, scope} -> a new session's
//                          {access_token, refresh_token};
//   POST /test/expire-access   every access token expires now;
//   POST /test/revoke-sessions every refresh token is revoked (logout);
//   POST /test/script      {status, headers, body, delay_ms, count}: the next
//                          `count` /token requests get this canned answer;
//   POST /test/hold-grants real /token grants wait (stats.grants_waiting)
//   POST /test/release-grants  until this releases them;
//   POST /test/echo-errors {on}: failed grants quote every form value in
//                          error_description (a careless server);
//   POST /test/register-client {client_id, method: "client_secret" | "none" |
//                          "private_key_jwt" | "tls_client_auth" |
//                          "federated", secret?, public_key_pem? (SPKI),
//                          alg? ("RS256" | "ES256", else from the key), kid?,
//                          tls_subject_cn?, federated_subject?,
//                          federated_audience?, grants: [...]} -> {};
//                          replaces an earlier record. "federated" is Entra
//                          ID's federated identity credential: the client
//                          authenticates with a client_assertion that is a
//                          cluster token (below) with this sub and aud;
//   POST /test/register-issuer {issuer, public_key_pem, alg?, kid?} -> {}:
//                          who may sign jwt-bearer grant assertions;
//   POST /test/mint-subject-token {sub, ttl_s, jti?, aud?} -> {token, jti}: a
//                          JWT from the "cluster" (iss https://kubernetes.test,
//                          ES256, a key made at start); ttl_s < 0 mints an
//                          expired one;
//   POST /test/dpop        {mode: "off" | "accept" | "require", require_nonce?,
//                          rotate_nonce?} -> {}: DPoP (RFC 9449) at /token.
//                          "accept": a request with a DPoP header must carry
//                          a valid proof (dpop_verify.js: htm POST, htu this
//                          endpoint) and gets token_type "DPoP", the token
//                          bound to the proof's key; "require": a request
//                          without one is refused (400 invalid_dpop_proof).
//                          require_nonce: a proof must carry the server's
//                          current nonce, else 400 use_dpop_nonce with a
//                          DPoP-Nonce header, which every /token answer then
//                          carries; rotate_nonce: a new nonce now;
//   POST /test/token-binding {access_token} -> {jkt, active}: the thumbprint
//                          of the key the token is bound to, "" for a Bearer
//                          token; whether the token is live;
//   GET  /test/stats       counters, see `stats` below.
'use strict';

const http = require('http');
const https = require('https');
const fs = require('fs');
const crypto = require('crypto');
const jose = require('jose');
const { createDpopVerifier } = require('./dpop_verify');
const OAuth2Server = require('@node-oauth/oauth2-server');
const { Request, Response, InvalidGrantError, InvalidRequestError } = OAuth2Server;
const AbstractGrantType = require('@node-oauth/oauth2-server/lib/grant-types/abstract-grant-type');

const args = Object.fromEntries(process.argv.slice(2).map((a) => {
  const [k, ...v] = a.replace(/^--/, '').split('=');
  return [k, v.join('=')];
}));

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const CLUSTER_ISSUER = 'https://kubernetes.test';
const MAX_GRANT_ASSERTION_LIFETIME = 600;   // s, jwt-bearer grant assertions
const MAX_CLIENT_ASSERTION_LIFETIME = 300;  // s, private_key_jwt assertions

// How the token handler tells model.getClient that a client registered for
// private_key_jwt, tls_client_auth or a federated credential has passed its
// check: handleToken
// verifies the assertion or the certificate itself, then hands oauth.token()
// this per-process random value as the client's `client_secret`. getClient
// accepts such a client with this value and nothing else, and it is never
// sent or printed, so neither a secret nor nothing gets such a client in.
// A client_secret client is still checked against its own secret, so the
// marker is worth nothing for it.
const AUTHENTICATED_MARKER = crypto.randomBytes(32).toString('hex');
const STRONG_METHODS = new Set(['private_key_jwt', 'tls_client_auth', 'federated']);
const ASSERTION_METHODS = new Set(['private_key_jwt', 'federated']);

// Registered clients. method "client_secret": the secret must be presented
// (HTTP Basic or in the body); "none": a public client presents none;
// "private_key_jwt": a client assertion signed by `key` (alg, kid);
// "tls_client_auth": a trusted client certificate whose subject CN is
// `tls_subject_cn`.
const clients = {
  'confidential-app': { id: 'confidential-app', method: 'client_secret', secret: 'app-secret',
                        grants: ['refresh_token', 'client_credentials'] },
  'public-app': { id: 'public-app', method: 'none', secret: null, grants: ['refresh_token'] },
  anonymous: { id: 'anonymous', method: 'none', secret: null, grants: [JWT_BEARER, TOKEN_EXCHANGE] },
};
const issuers = new Map();        // iss -> {key, alg, kid}: jwt-bearer grant signers
const seenJtis = new Map();       // "client:<id>" / "issuer:<iss>" -> Set of jti

const accessTokens = new Map();   // token -> record
const refreshTokens = new Map();  // token -> record (live only)
const rotatedOut = new Set();     // refresh tokens replaced by rotation
// DPoP at the token endpoint (/test/dpop).
const dpop = { mode: 'off', requireNonce: false, nonce: crypto.randomBytes(16).toString('base64url') };
const verifyDpop = createDpopVerifier();
const dpopBound = new Map();  // access token -> jkt of its key
const stats = {
  token_requests: 0,
  dpop_proofs_ok: 0,         // token requests with a valid DPoP proof
  dpop_nonce_challenges: 0,  // 400 use_dpop_nonce answers
  dpop_refused: 0,           // 400 invalid_dpop_proof answers
  refresh_grants_ok: 0,      // refresh_token grants only
  refresh_grants_failed: 0,
  reused_refresh_tokens: 0,  // a rotated-out refresh token presented again
  scripted: 0,
  introspections: 0,
  last_client_auth: '',      // "basic", "body", "none", "private_key_jwt", "tls_client_auth" or "federated"
  last_scope: '',
  last_content_type: '',
  grants_ok: {},             // grant_type -> count, every grant
  grants_failed: {},         // grant_type -> count (client authentication failures too)
  last_grant_type: '',
  last_audience: '',         // body `audience`
  last_resources: [],        // every body `resource`
  // The last jwt-bearer grant assertion and client assertion that could be
  // decoded, whether accepted or not (read before they are verified):
  last_assertion: null,         // {alg, kid, iss, sub, aud, lifetime_s, jti, claims}
  last_client_assertion: null,  // {alg, kid, lifetime_s, jti, aud, x5t_s256, x5t}
  last_federated_assertion: null,  // {jti, sub, aud} of a verified federated one
  jti_replays: 0,
  repeated_parameters: 0,    // requests refused for a parameter sent twice            // replayed jti, grant and client assertions alike
  client_assertions_ok: 0,
  client_assertions_rejected: 0,
  last_client_cert_cn: '',   // subject CN of the last certificate checked for tls_client_auth
  last_subject_token: null,  // {jti, sub, type}
  last_requested_token_type: '',
  last_actor_sub: '',
  grants_waiting: 0,         // real grants held by /test/hold-grants right now
};
let script = null;
// /test/hold-grants: real grants wait here until /test/release-grants, so a
// test can start many calls while the one grant is provably in flight.
let grantGate = null;  // {promise, release}
// /test/echo-errors: failed grants quote every form value in their
// error_description, as careless servers do, to test the client's scrubbing.
let echoErrors = false;

const user = { id: 'user-1' };
let tokenEndpoint = '';  // "<scheme>://127.0.0.1:<port>/token", set once listening
let cluster = null;      // {privateKey, publicKey, kid}

// A short reason for a failed JWT check; never the token's text.
function joseReason(e) {
  switch (e && e.code) {
    case 'ERR_JWT_EXPIRED': return 'expired';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED': return 'bad signature';
    case 'ERR_JOSE_ALG_NOT_ALLOWED': return 'alg not allowed';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': return `claim ${e.claim} invalid (${e.reason})`;
    default: return 'malformed JWT';
  }
}

class CheckFailed extends Error {}

// Verifies `jwt` signed with `signer` ({key, alg, kid}); `expect` gives the
// claims jwtVerify checks plus maxLifetime. Returns {payload, header} or
// throws CheckFailed with a short reason. Records the jti only on success.
async function verifyAssertion(jwt, signer, expect, jtiScope) {
  let header;
  try { header = jose.decodeProtectedHeader(jwt); } catch (e) { throw new CheckFailed('malformed JWT'); }
  if (header.alg !== signer.alg) throw new CheckFailed(`alg not allowed, want ${signer.alg}`);
  if (signer.kid && header.kid !== signer.kid) throw new CheckFailed('kid mismatch');
  let payload;
  try {
    ({ payload } = await jose.jwtVerify(jwt, signer.key, {
      algorithms: [signer.alg],
      issuer: expect.issuer,
      subject: expect.subject,
      audience: tokenEndpoint,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti'],
    }));
  } catch (e) {
    throw new CheckFailed(joseReason(e));
  }
  if (payload.aud !== tokenEndpoint) throw new CheckFailed('aud must be the token endpoint URL alone');
  if (typeof payload.sub !== 'string' || !payload.sub) throw new CheckFailed('sub missing');
  if (typeof payload.jti !== 'string' || !payload.jti) throw new CheckFailed('jti missing');
  if (payload.exp - payload.iat > expect.maxLifetime) {
    throw new CheckFailed(`lifetime ${payload.exp - payload.iat} s exceeds ${expect.maxLifetime} s`);
  }
  if (!seenJtis.has(jtiScope)) seenJtis.set(jtiScope, new Set());
  const seen = seenJtis.get(jtiScope);
  if (seen.has(payload.jti)) {
    stats.jti_replays++;
    throw new CheckFailed('jti replayed');
  }
  seen.add(payload.jti);
  return { payload, header };
}

function lifetimeOf(p) {
  return typeof p.exp === 'number' && typeof p.iat === 'number' ? p.exp - p.iat : null;
}

// A JWT from the cluster (subject or actor token of a token exchange).
async function verifyClusterToken(jwt, what) {
  try {
    const { payload } = await jose.jwtVerify(jwt, cluster.publicKey, {
      algorithms: ['ES256'], issuer: CLUSTER_ISSUER, requiredClaims: ['sub', 'exp'],
    });
    return payload;
  } catch (e) {
    throw new InvalidGrantError(`Invalid grant: ${what} ${joseReason(e)}`);
  }
}

function saveIssued(grant, client, owner, scope) {
  return (async () => {
    const validated = await grant.validateScope(owner, client, scope);
    return model.saveToken({
      accessToken: await grant.generateAccessToken(client, owner, validated),
      accessTokenExpiresAt: grant.getAccessTokenExpiresAt(),
      scope: validated,
    }, client, owner);
  })();
}

// RFC 7523 §2.1: an assertion from a registered issuer buys an access token
// for its subject.
class JwtBearerGrantType extends AbstractGrantType {
  async handle(request, client) {
    const assertion = request.body.assertion;
    if (!assertion) throw new InvalidRequestError('Missing parameter: `assertion`');
    let header;
    let payload;
    try {
      header = jose.decodeProtectedHeader(assertion);
      payload = jose.decodeJwt(assertion);
    } catch (e) {
      throw new InvalidGrantError('Invalid grant: malformed assertion');
    }
    const registered = new Set(['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti']);
    stats.last_assertion = {
      alg: header.alg || '', kid: header.kid || '', iss: payload.iss || '', sub: payload.sub || '',
      aud: payload.aud === undefined ? '' : payload.aud, lifetime_s: lifetimeOf(payload),
      jti: payload.jti || '',
      claims: Object.fromEntries(Object.entries(payload).filter(([k]) => !registered.has(k))),
    };
    const signer = typeof payload.iss === 'string' ? issuers.get(payload.iss) : undefined;
    if (!signer) throw new InvalidGrantError('Invalid grant: unknown assertion issuer');
    try {
      await verifyAssertion(assertion, signer,
                            { issuer: payload.iss, maxLifetime: MAX_GRANT_ASSERTION_LIFETIME },
                            `issuer:${payload.iss}`);
    } catch (e) {
      if (e instanceof CheckFailed) throw new InvalidGrantError(`Invalid grant: assertion ${e.message}`);
      throw e;
    }
    return saveIssued(this, client, { id: payload.sub, iss: payload.iss }, this.getScope(request));
  }
}

// RFC 8693: a cluster-signed subject token (and optionally actor token) buys
// an access token for its subject.
class TokenExchangeGrantType extends AbstractGrantType {
  async handle(request, client) {
    const b = request.body;
    if (!b.subject_token) throw new InvalidRequestError('Missing parameter: `subject_token`');
    if (!b.subject_token_type) throw new InvalidRequestError('Missing parameter: `subject_token_type`');
    if (b.actor_token && !b.actor_token_type) throw new InvalidRequestError('Missing parameter: `actor_token_type`');
    if (!b.actor_token && b.actor_token_type) throw new InvalidRequestError('`actor_token_type` without `actor_token`');
    if (b.requested_token_type && b.requested_token_type !== ACCESS_TOKEN_TYPE) {
      throw new InvalidRequestError('Unsupported `requested_token_type`');
    }
    const subject = await verifyClusterToken(b.subject_token, 'subject_token');
    stats.last_subject_token = { jti: subject.jti || '', sub: subject.sub, type: b.subject_token_type };
    let actor = null;
    if (b.actor_token) {
      actor = await verifyClusterToken(b.actor_token, 'actor_token');
      stats.last_actor_sub = actor.sub;
    }
    const owner = { id: subject.sub, act: actor ? { sub: actor.sub } : undefined };
    return saveIssued(this, client, owner, this.getScope(request));
  }
}

const model = {
  async getClient(clientId, clientSecret) {
    const client = Object.prototype.hasOwnProperty.call(clients, clientId) ? clients[clientId] : null;
    if (!client) return null;
    if (STRONG_METHODS.has(client.method)) {
      // Only after handleToken's own check (see AUTHENTICATED_MARKER).
      return typeof clientSecret === 'string' && clientSecret.length === AUTHENTICATED_MARKER.length &&
        crypto.timingSafeEqual(Buffer.from(clientSecret), Buffer.from(AUTHENTICATED_MARKER)) ? client : null;
    }
    if (client.secret === null) return clientSecret ? null : client;
    return clientSecret === client.secret ? client : null;
  },
  async getUserFromClient(client) {
    return { id: `service-account:${client.id}` };
  },
  async getRefreshToken(refreshToken) {
    const record = refreshTokens.get(refreshToken);
    if (!record) {
      if (rotatedOut.has(refreshToken)) stats.reused_refresh_tokens++;
      return null;
    }
    return record;
  },
  async revokeToken(token) {
    if (!refreshTokens.delete(token.refreshToken)) return false;
    rotatedOut.add(token.refreshToken);
    return true;
  },
  async saveToken(token, client, owner) {
    const record = { ...token, client, user: owner };
    accessTokens.set(token.accessToken, record);
    if (token.refreshToken) refreshTokens.set(token.refreshToken, record);
    return record;
  },
  async getAccessToken(accessToken) {
    return accessTokens.get(accessToken) || null;
  },
  // Random opaque tokens, as most servers issue.
  async generateAccessToken() { return 'at-' + crypto.randomBytes(24).toString('base64url'); },
  async generateRefreshToken() { return 'rt-' + crypto.randomBytes(24).toString('base64url'); },
};

const accessTtl = Number(args['access-ttl'] || 3600);
const oauth = new OAuth2Server({
  model,
  accessTokenLifetime: accessTtl,
  refreshTokenLifetime: 24 * 3600,
  alwaysIssueNewRefreshToken: true,
  // Public clients may refresh; the JWT bearer grant and token exchange
  // need no client authentication (RFC 7523 §3.1, RFC 8693 §2.1).
  requireClientAuthentication: { refresh_token: false, [JWT_BEARER]: false, [TOKEN_EXCHANGE]: false },
  extendedGrantTypes: { [JWT_BEARER]: JwtBearerGrantType, [TOKEN_EXCHANGE]: TokenExchangeGrantType },
});

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

// The user name of an `authorization: Basic` header, or null.
function basicClientId(headers) {
  const m = /^Basic\s+(\S+)$/i.exec(headers.authorization || '');
  if (!m) return null;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : decoded.slice(0, colon);
}

// private_key_jwt (RFC 7523 §2.2/§3, OIDC Core §9).
async function checkClientAssertion(client, body) {
  if (body.client_assertion_type !== CLIENT_ASSERTION_TYPE) throw new CheckFailed('wrong client_assertion_type');
  if (!body.client_assertion) throw new CheckFailed('missing client_assertion');
  if (!client.key) throw new CheckFailed('no key registered');
  await verifyAssertion(body.client_assertion, client,
                        { issuer: client.id, subject: client.id, maxLifetime: MAX_CLIENT_ASSERTION_LIFETIME },
                        `client:${client.id}`);
}

// A federated client (Entra ID workload identity): the client_assertion is
// a token from the cluster, with the registered sub and aud. The same token
// may come again until it is rotated, as a projected token does.
async function checkFederatedAssertion(client, body) {
  if (body.client_assertion_type !== CLIENT_ASSERTION_TYPE) throw new CheckFailed('wrong client_assertion_type');
  if (!body.client_assertion) throw new CheckFailed('missing client_assertion');
  let payload;
  try {
    ({ payload } = await jose.jwtVerify(body.client_assertion, cluster.publicKey, {
      algorithms: ['ES256'], issuer: CLUSTER_ISSUER, audience: client.federated_audience,
      subject: client.federated_subject, requiredClaims: ['sub', 'aud', 'exp'],
    }));
  } catch (e) {
    throw new CheckFailed(`federated assertion ${joseReason(e)}`);
  }
  stats.last_federated_assertion = { jti: payload.jti || '', sub: payload.sub, aud: payload.aud };
}

// tls_client_auth (RFC 8705 §2.1.1).
function checkClientCertificate(client, socket) {
  const cert = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : null;
  if (!cert || !cert.subject) throw new CheckFailed('no client certificate');
  const cn = Array.isArray(cert.subject.CN) ? cert.subject.CN.join(',') : (cert.subject.CN || '');
  stats.last_client_cert_cn = cn;
  if (!socket.authorized) throw new CheckFailed('certificate not trusted');
  if (cn !== client.tls_subject_cn) throw new CheckFailed('subject mismatch');
}

// Authenticates a private_key_jwt or tls_client_auth client itself, before
// oauth.token(); leaves every other client to oauth2-server. Returns the
// request body for oauth.token(), or throws CheckFailed.
async function authenticateClient(req, body) {
  const hasAssertion = body.client_assertion !== undefined || body.client_assertion_type !== undefined;
  const basicId = basicClientId(req.headers);
  let clientId = body.client_id || basicId;
  if (hasAssertion) {
    stats.last_client_auth = 'private_key_jwt';
    let header;
    let payload;
    try {
      header = jose.decodeProtectedHeader(body.client_assertion || '');
      payload = jose.decodeJwt(body.client_assertion);
    } catch (e) {
      throw new CheckFailed('malformed client_assertion');
    }
    stats.last_client_assertion = {
      alg: header.alg || '', kid: header.kid || '', lifetime_s: lifetimeOf(payload), jti: payload.jti || '',
      aud: payload.aud === undefined ? '' : payload.aud,
      x5t_s256: header['x5t#S256'] || '', x5t: header.x5t || '',
    };
    const named = typeof body.client_id === 'string' &&
      Object.prototype.hasOwnProperty.call(clients, body.client_id) ? clients[body.client_id] : null;
    if (body.client_id !== undefined && body.client_id !== payload.iss &&
        !(named && named.method === 'federated')) {
      throw new CheckFailed('client_id does not match the assertion iss');
    }
    clientId = clientId || payload.iss;
  }
  const client = typeof clientId === 'string' && Object.prototype.hasOwnProperty.call(clients, clientId)
    ? clients[clientId] : null;
  if (hasAssertion && (!client || !ASSERTION_METHODS.has(client.method))) {
    throw new CheckFailed(client ? 'client is not registered for a client assertion' : 'unknown client');
  }
  if (!client) {
    // A JWT bearer grant or token exchange naming no client: RFC 7523 §3.1
    // and RFC 8693 §2.1 make client authentication optional.
    if (!clientId && (body.grant_type === JWT_BEARER || body.grant_type === TOKEN_EXCHANGE)) {
      return { ...body, client_id: 'anonymous' };
    }
    return body;  // oauth2-server answers invalid_client / invalid_request
  }
  if (!STRONG_METHODS.has(client.method)) return body;
  stats.last_client_auth = client.method;
  if (basicId !== null || body.client_secret !== undefined) {
    throw new CheckFailed(`client must authenticate with ${client.method}`);
  }
  if (ASSERTION_METHODS.has(client.method)) {
    if (!hasAssertion) throw new CheckFailed('missing client_assertion');
    try {
      if (client.method === 'federated') {
        await checkFederatedAssertion(client, body);
      } else {
        await checkClientAssertion(client, body);
      }
      stats.client_assertions_ok++;
    } catch (e) {
      stats.client_assertions_rejected++;
      throw e;
    }
  } else {
    checkClientCertificate(client, req.socket);
  }
  const out = { ...body, client_id: client.id, client_secret: AUTHENTICATED_MARKER };
  delete out.client_assertion;
  delete out.client_assertion_type;
  return out;
}

function count(grantType, ok) {
  if (!grantType) return;
  const table = ok ? stats.grants_ok : stats.grants_failed;
  table[grantType] = (table[grantType] || 0) + 1;
  if (grantType === 'refresh_token') {
    if (ok) stats.refresh_grants_ok++; else stats.refresh_grants_failed++;
  }
}

async function handleToken(req, res, raw) {
  stats.token_requests++;
  stats.last_content_type = req.headers['content-type'] || '';
  if (script && script.count > 0) {
    script.count--;
    stats.scripted++;
    const s = script;
    const answer = () => {
      if (s.body === null) { res.destroy(); return; }  // connection dropped
      res.writeHead(s.status, s.headers || {});
      res.end(s.body);
    };
    if (s.delay_ms) setTimeout(answer, s.delay_ms); else answer();
    return;
  }
  const params = new URLSearchParams(raw);
  // RFC 6749 section 3.2: no parameter more than once (RFC 8707's resource
  // may repeat).
  const names = [...params.keys()].filter((n) => n !== 'resource');
  const repeated = names.find((n, i) => names.indexOf(n) !== i);
  if (repeated !== undefined) {
    stats.repeated_parameters++;
    return send(res, 400, { error: 'invalid_request', error_description: `parameter ${repeated} repeated` });
  }
  let body = Object.fromEntries(params);
  const grantType = body.grant_type || '';
  stats.last_client_auth = req.headers.authorization && req.headers.authorization.startsWith('Basic ')
    ? 'basic' : (body.client_secret ? 'body' : 'none');
  stats.last_scope = body.scope || '';
  stats.last_grant_type = grantType;
  stats.last_audience = body.audience || '';
  stats.last_resources = params.getAll('resource');
  stats.last_requested_token_type = body.requested_token_type || '';
  stats.last_actor_sub = '';
  if (grantGate) {
    stats.grants_waiting++;
    await grantGate.promise;
    stats.grants_waiting--;
  }
  const echo = echoErrors ? ` (received: ${[...params.values()].join(' ')})` : '';
  const nonceHeader = dpop.mode !== 'off' && dpop.requireNonce ? { 'dpop-nonce': dpop.nonce } : {};
  let jkt = null;
  const proof = req.headers.dpop;
  if (dpop.mode !== 'off' && (proof !== undefined || dpop.mode === 'require')) {
    const refuse = (error, description) => {
      if (error === 'use_dpop_nonce') stats.dpop_nonce_challenges++; else stats.dpop_refused++;
      count(grantType, false);
      return send(res, 400, { error, error_description: description }, nonceHeader);
    };
    if (proof === undefined) return refuse('invalid_dpop_proof', 'a DPoP proof is required');
    const checked = await verifyDpop({
      proof, htm: 'POST', htu: tokenEndpoint, nonce: dpop.requireNonce ? dpop.nonce : undefined,
    });
    if (!checked.ok) {
      return checked.error === 'nonce does not match'
        ? refuse('use_dpop_nonce', 'use the DPoP-Nonce header\'s nonce')
        : refuse('invalid_dpop_proof', checked.error);
    }
    stats.dpop_proofs_ok++;
    jkt = checked.jkt;
  }
  try {
    body = await authenticateClient(req, body);
  } catch (e) {
    if (!(e instanceof CheckFailed)) throw e;
    count(grantType, false);
    return send(res, 401, { error: 'invalid_client', error_description: e.message + echo });
  }
  const request = new Request({ method: req.method, headers: req.headers, query: {}, body });
  const response = new Response({ headers: {} });
  try {
    await oauth.token(request, response);
    if (grantType === TOKEN_EXCHANGE) response.body.issued_token_type = ACCESS_TOKEN_TYPE;
    if (jkt !== null) {
      response.body.token_type = 'DPoP';
      dpopBound.set(response.body.access_token, jkt);
    }
    count(grantType, true);
  } catch (e) {
    count(grantType, false);
    if (echo && response.body) {
      response.body.error_description = (response.body.error_description || '') + echo;
    }
  }
  send(res, response.status || 200, response.body, { ...response.headers, ...nonceHeader });
}

async function handleIntrospect(req, res) {
  stats.introspections++;
  const request = new Request({ method: 'GET', headers: req.headers, query: {} });
  const response = new Response({ headers: {} });
  try {
    await oauth.authenticate(request, response);
    send(res, 200, { active: true });
  } catch (e) {
    send(res, 401, { active: false, error: e.name });
  }
}

// {key, alg, kid} from a registration's SPKI PEM; alg defaults from the key.
async function importSigner(pem, alg, kid) {
  if (typeof pem !== 'string') throw new Error('public_key_pem missing');
  if (!alg) {
    const k = crypto.createPublicKey(pem);
    alg = k.asymmetricKeyType === 'rsa' ? 'RS256'
      : (k.asymmetricKeyType === 'ec' && k.asymmetricKeyDetails.namedCurve === 'prime256v1' ? 'ES256' : '');
  }
  if (alg !== 'RS256' && alg !== 'ES256') throw new Error('alg must be RS256 or ES256');
  return { key: await jose.importSPKI(pem, alg), alg, kid: kid || '' };
}

async function registerClient(r) {
  const methods = ['client_secret', 'none', 'private_key_jwt', 'tls_client_auth', 'federated'];
  if (typeof r.client_id !== 'string' || !r.client_id) throw new Error('client_id missing');
  if (!methods.includes(r.method)) throw new Error(`method must be one of ${methods.join(', ')}`);
  if (!Array.isArray(r.grants)) throw new Error('grants must be an array');
  const client = { id: r.client_id, method: r.method, secret: null, grants: r.grants.map(String) };
  if (r.method === 'client_secret') {
    if (typeof r.secret !== 'string' || !r.secret) throw new Error('secret missing');
    client.secret = r.secret;
  } else if (r.method === 'private_key_jwt') {
    Object.assign(client, await importSigner(r.public_key_pem, r.alg, r.kid));
  } else if (r.method === 'tls_client_auth') {
    if (typeof r.tls_subject_cn !== 'string' || !r.tls_subject_cn) throw new Error('tls_subject_cn missing');
    client.tls_subject_cn = r.tls_subject_cn;
  } else if (r.method === 'federated') {
    for (const f of ['federated_subject', 'federated_audience']) {
      if (typeof r[f] !== 'string' || !r[f]) throw new Error(`${f} missing`);
      client[f] = r[f];
    }
  }
  clients[client.id] = client;
}

async function route(req, res) {
  const raw = await readBody(req);
  const url = new URL(req.url, 'http://127.0.0.1');
  if (req.method === 'POST' && url.pathname === '/token') return handleToken(req, res, raw);
  if (req.method === 'POST' && url.pathname === '/introspect') return handleIntrospect(req, res);
  if (req.method === 'POST' && url.pathname === '/test/dpop') {
    const r = JSON.parse(raw || '{}');
    if (!['off', 'accept', 'require'].includes(r.mode)) return send(res, 400, { error: 'bad mode' });
    dpop.mode = r.mode;
    dpop.requireNonce = !!r.require_nonce;
    if (r.rotate_nonce) dpop.nonce = crypto.randomBytes(16).toString('base64url');
    return send(res, 200, {});
  }
  if (req.method === 'POST' && url.pathname === '/test/token-binding') {
    const { access_token: token } = JSON.parse(raw || '{}');
    const record = accessTokens.get(token);
    const active = !!record && record.accessTokenExpiresAt > new Date();
    return send(res, 200, { jkt: dpopBound.get(token) || '', active });
  }
  if (req.method === 'POST' && url.pathname === '/test/seed') {
    const { client_id: clientId, scope } = JSON.parse(raw || '{}');
    const client = clients[clientId];
    if (!client) return send(res, 400, { error: 'unknown client' });
    const record = await model.saveToken({
      accessToken: await model.generateAccessToken(),
      accessTokenExpiresAt: new Date(Date.now() + accessTtl * 1000),
      refreshToken: await model.generateRefreshToken(),
      refreshTokenExpiresAt: new Date(Date.now() + 24 * 3600 * 1000),
      scope: scope ? scope.split(' ') : undefined,
    }, client, user);
    return send(res, 200, { access_token: record.accessToken, refresh_token: record.refreshToken });
  }
  if (req.method === 'POST' && url.pathname === '/test/expire-access') {
    const past = new Date(Date.now() - 1000);
    for (const record of accessTokens.values()) record.accessTokenExpiresAt = past;
    return send(res, 200, { expired: accessTokens.size });
  }
  if (req.method === 'POST' && url.pathname === '/test/revoke-sessions') {
    const n = refreshTokens.size;
    for (const t of refreshTokens.keys()) rotatedOut.add(t);
    refreshTokens.clear();
    return send(res, 200, { revoked: n });
  }
  if (req.method === 'POST' && url.pathname === '/test/script') {
    const s = JSON.parse(raw);
    script = { status: s.status || 200, headers: s.headers || {}, body: s.body === undefined ? '' : s.body,
               delay_ms: s.delay_ms || 0, count: s.count || 1 };
    return send(res, 200, {});
  }
  if (req.method === 'POST' && url.pathname === '/test/hold-grants') {
    let release;
    const promise = new Promise((resolve) => { release = resolve; });
    grantGate = { promise, release };
    return send(res, 200, {});
  }
  if (req.method === 'POST' && url.pathname === '/test/release-grants') {
    if (grantGate) grantGate.release();
    grantGate = null;
    return send(res, 200, {});
  }
  if (req.method === 'POST' && url.pathname === '/test/echo-errors') {
    echoErrors = JSON.parse(raw || '{}').on === true;
    return send(res, 200, {});
  }
  if (req.method === 'POST' && url.pathname === '/test/register-client') {
    try {
      await registerClient(JSON.parse(raw || '{}'));
    } catch (e) {
      return send(res, 400, { error: 'invalid_registration', error_description: String(e.message) });
    }
    return send(res, 200, {});
  }
  if (req.method === 'POST' && url.pathname === '/test/register-issuer') {
    try {
      const r = JSON.parse(raw || '{}');
      if (typeof r.issuer !== 'string' || !r.issuer) throw new Error('issuer missing');
      issuers.set(r.issuer, await importSigner(r.public_key_pem, r.alg, r.kid));
    } catch (e) {
      return send(res, 400, { error: 'invalid_registration', error_description: String(e.message) });
    }
    return send(res, 200, {});
  }
  if (req.method === 'POST' && url.pathname === '/test/mint-subject-token') {
    const r = JSON.parse(raw || '{}');
    if (typeof r.sub !== 'string' || !r.sub) return send(res, 400, { error: 'sub missing' });
    const ttl = Number(r.ttl_s === undefined ? 600 : r.ttl_s);
    if (!Number.isFinite(ttl)) return send(res, 400, { error: 'ttl_s must be a number' });
    const now = Math.floor(Date.now() / 1000);
    const jti = typeof r.jti === 'string' && r.jti ? r.jti : crypto.randomUUID();
    const claims = typeof r.aud === 'string' && r.aud ? { aud: r.aud } : {};
    const token = await new jose.SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: cluster.kid, typ: 'JWT' })
      .setIssuer(CLUSTER_ISSUER)
      .setSubject(r.sub)
      .setJti(jti)
      .setIssuedAt(ttl >= 0 ? now : now + ttl - 60)
      .setExpirationTime(now + ttl)
      .sign(cluster.privateKey);
    return send(res, 200, { token, jti });
  }
  if (req.method === 'GET' && url.pathname === '/test/stats') return send(res, 200, stats);
  return send(res, 404, { error: 'not_found' });
}

const handler = (req, res) => {
  route(req, res).catch((e) => send(res, 500, { error: 'server_error', error_description: String(e.message) }));
};

async function main() {
  const { privateKey, publicKey } = await jose.generateKeyPair('ES256');
  cluster = { privateKey, publicKey, kid: 'cluster-' + crypto.randomBytes(4).toString('hex') };
  let server;
  if (args['tls-cert']) {
    const options = { cert: fs.readFileSync(args['tls-cert']), key: fs.readFileSync(args['tls-key']) };
    if (args['client-ca']) {
      Object.assign(options, { requestCert: true, rejectUnauthorized: false, ca: fs.readFileSync(args['client-ca']) });
    }
    server = https.createServer(options, handler);
  } else {
    server = http.createServer(handler);
  }
  server.keepAliveTimeout = 60000;
  server.listen(0, '127.0.0.1', () => {
    const port = server.address().port;
    tokenEndpoint = `${args['tls-cert'] ? 'https' : 'http'}://127.0.0.1:${port}/token`;
    process.stdout.write(JSON.stringify({ port }) + '\n');
  });
}

process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
main().catch((e) => {
  process.stderr.write(`oauth server: ${e.message}\n`);
  process.exit(1);
});
