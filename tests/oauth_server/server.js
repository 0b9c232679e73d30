// A real OAuth 2.0 authorization server for authrefresh's HTTP refresher
// tests: @node-oauth/oauth2-server's token endpoint (RFC 6749) with rotating
// refresh tokens, plus test-only control endpoints under /test/.
//
//   node server.js [--tls-cert=FILE --tls-key=FILE] [--access-ttl=SECONDS]
//
// Listens on 127.0.0.1 with a free port and prints one JSON line
// {"port": N} to stdout once it accepts connections. Exits when its stdin
// closes, so a test that dies never leaves it running. It never prints a
// token.
//
// Endpoints:
//   POST /token            the real token endpoint (refresh_token grant);
//   POST /introspect       header `authorization: Bearer ...` -> 200
//                          {"active":true} or 401 (a resource server's check,
//                          by the library's own authenticate());
//   POST /test/seed        {client_id, scope} -> a new session's
//                          {access_token, refresh_token};
//   POST /test/expire-access   every access token expires now;
//   POST /test/revoke-sessions every refresh token is revoked (logout);
//   POST /test/script      {status, headers, body, delay_ms, count}: the next
//                          `count` /token requests get this canned answer;
//   GET  /test/stats       counters, see `stats` below.
'use strict';

const http = require('http');
const https = require('https');
const fs = require('fs');
const crypto = require('crypto');
const OAuth2Server = require('@node-oauth/oauth2-server');
const { Request, Response } = OAuth2Server;

const args = Object.fromEntries(process.argv.slice(2).map((a) => {
  const [k, ...v] = a.replace(/^--/, '').split('=');
  return [k, v.join('=')];
}));

// Registered clients. A client with a secret must present it (HTTP Basic or
// in the body); a public client presents none.
const clients = {
  'confidential-app': { id: 'confidential-app', secret: 'app-secret', grants: ['refresh_token'] },
  'public-app': { id: 'public-app', secret: null, grants: ['refresh_token'] },
};

const accessTokens = new Map();   // token -> record
const refreshTokens = new Map();  // token -> record (live only)
const rotatedOut = new Set();     // refresh tokens replaced by rotation
const stats = {
  token_requests: 0,
  refresh_grants_ok: 0,
  refresh_grants_failed: 0,
  reused_refresh_tokens: 0,  // a rotated-out refresh token presented again
  scripted: 0,
  introspections: 0,
  last_client_auth: '',      // "basic", "body" or "none"
  last_scope: '',
  last_content_type: '',
};
let script = null;

const user = { id: 'user-1' };

const model = {
  async getClient(clientId, clientSecret) {
    const client = clients[clientId];
    if (!client) return null;
    if (client.secret === null) return clientSecret ? null : client;
    return clientSecret === client.secret ? client : null;
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
  requireClientAuthentication: { refresh_token: false },  // public clients
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
  const body = Object.fromEntries(new URLSearchParams(raw));
  stats.last_client_auth = req.headers.authorization && req.headers.authorization.startsWith('Basic ')
    ? 'basic' : (body.client_secret ? 'body' : 'none');
  stats.last_scope = body.scope || '';
  const request = new Request({ method: req.method, headers: req.headers, query: {}, body });
  const response = new Response({ headers: {} });
  try {
    await oauth.token(request, response);
    stats.refresh_grants_ok++;
  } catch (e) {
    stats.refresh_grants_failed++;
  }
  send(res, response.status || 200, response.body, response.headers);
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

async function route(req, res) {
  const raw = await readBody(req);
  const url = new URL(req.url, 'http://127.0.0.1');
  if (req.method === 'POST' && url.pathname === '/token') return handleToken(req, res, raw);
  if (req.method === 'POST' && url.pathname === '/introspect') return handleIntrospect(req, res);
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
  if (req.method === 'GET' && url.pathname === '/test/stats') return send(res, 200, stats);
  return send(res, 404, { error: 'not_found' });
}

const handler = (req, res) => {
  route(req, res).catch((e) => send(res, 500, { error: 'server_error', error_description: String(e.message) }));
};

const server = args['tls-cert']
  ? https.createServer({ cert: fs.readFileSync(args['tls-cert']), key: fs.readFileSync(args['tls-key']) }, handler)
  : http.createServer(handler);
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
