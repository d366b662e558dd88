// Development stand-in for `endpointd serve` used by web.test.mjs only when ENDPOINTD_WEB_MOCK=1:
// serves web/ and an in-memory subset of the management API so the dashboard can be driven
// before the real daemon exists. The real test run uses the real daemon.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const now = () => new Date().toISOString();
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };

export function startMock({ port, token, webDir }) {
  const eps = new Map(); // key ns/name
  const ns0 = 'admin';
  const logs = new Map();
  const log = (k, s) => { logs.set(k, `${logs.get(k) || ''}${now()} endpoint state ${s}\n`); };
  const send = (res, code, obj, type = 'application/json') => {
    const body = type === 'application/json' ? JSON.stringify(obj) : obj;
    res.writeHead(code, { 'Content-Type': type });
    res.end(body);
  };
  const setState = (ep, s) => {
    ep.status.state = s; ep.status.updatedAt = now();
    ep.status.url = ['running', 'updating', 'scaledToZero'].includes(s) ? `http://127.0.0.1:${port}/endpoints/${ns0}/${ep.name}` : null;
    ep.status.readyReplica = s === 'running' ? 1 : 0;
    ep.status.targetReplica = ['paused', 'scaledToZero'].includes(s) ? 0 : 1;
    log(`${ns0}/${ep.name}`, s);
  };
  // Synthetic per-endpoint counters that grow with every scrape: 4 requests, all in (0.1, 0.25].
  let scrapes = 0;
  const metrics = () => {
    scrapes += 1;
    let t = '# TYPE endpointd_requests_total counter\n';
    for (const ep of eps.values()) {
      const L = `namespace="${ns0}",endpoint="${ep.name}"`;
      const n = scrapes * 4;
      t += `endpointd_requests_total{${L},code="200"} ${n}\n`;
      for (const [le, c] of [['0.1', 0], ['0.25', n], ['+Inf', n]]) t += `endpointd_request_duration_seconds_bucket{${L},le="${le}"} ${c}\n`;
      t += `endpointd_queue_depth{${L}} 2\nendpointd_replicas_ready{${L}} ${ep.status.readyReplica}\nendpointd_replicas_target{${L}} ${ep.status.targetReplica}\n`;
    }
    return t;
  };
  const sse = async (res, events) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    for (const e of events) { res.write(`data: ${typeof e === 'string' ? e : JSON.stringify(e)}\n\n`); await new Promise((r) => setTimeout(r, 60)); }
    res.end();
  };
  const WORDS = ['Once', ' upon', ' a', ' mock', '.'];
  const dataPlane = (req, res, ep, sub) => {
    if (req.headers.authorization !== `Bearer ${token}`) return send(res, 401, { error: 'Invalid credentials in Authorization header' });
    if (!ep) return send(res, 404, { error: 'no such endpoint' });
    if (ep.status.state !== 'running') return send(res, 400, { error: 'Bad Request: Invalid state' });
    let b = '';
    req.on('data', (c) => { b += c; });
    req.on('end', () => {
      if (sub === '/generate_stream') {
        return sse(res, WORDS.map((w, i) => ({ token: { id: i, text: w, logprob: -1, special: false },
          generated_text: i === WORDS.length - 1 ? WORDS.join('') : null, details: null })));
      }
      if (sub === '/v1/chat/completions') {
        return sse(res, [...WORDS.map((w) => ({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { role: 'assistant', content: w }, finish_reason: null }] })), '[DONE]']);
      }
      if (sub === '/embed') {
        const n = JSON.parse(b).inputs.length;
        return send(res, 200, [[1, 0], [1, 1], [0, 1]].slice(0, n));
      }
      if (sub === '/predict') return send(res, 200, [{ label: 'POSITIVE', score: 0.75 }, { label: 'NEGATIVE', score: 0.25 }]);
      return send(res, 404, { error: 'route' });
    });
    return undefined;
  };
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    const p = u.pathname;
    if (req.method === 'GET' && (p === '/' || p.startsWith('/web/'))) {
      const f = p === '/' ? 'index.html' : p.slice(5);
      const full = path.join(webDir, path.normalize(f));
      if (!full.startsWith(webDir) || !fs.existsSync(full)) return send(res, 404, { error: 'not found' });
      return send(res, 200, fs.readFileSync(full), TYPES[path.extname(full)] || 'application/octet-stream');
    }
    if (p === '/health') return send(res, 200, 'ok', 'text/plain');
    if (p === '/metrics') return send(res, 200, metrics(), 'text/plain');
    const dp = p.match(/^\/endpoints\/([^/]+)\/([^/]+)(\/.*)?$/);
    if (dp) return dataPlane(req, res, eps.get(dp[2]), dp[3] || '/');
    if (req.headers.authorization !== `Bearer ${token}`) return send(res, 401, { error: 'Invalid credentials in Authorization header' });
    if (p === '/api/whoami-v2') return send(res, 200, { type: 'user', name: ns0, orgs: [], auth: { accessToken: { role: 'write', displayName: 'admin' } } });
    if (p === '/v2/provider') return send(res, 200, { vendors: [{ name: 'local', regions: [{ name: 'local', computes: [
      { id: 'local-local-cpu-x1', accelerator: 'cpu', instanceType: 'cpu', instanceSize: 'x1', numCpus: 1, memoryGb: 2, status: 'available' }] }] }] });
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const m = p.match(/^\/v2\/endpoint\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/);
      if (!m) return send(res, 404, { error: 'Not Found' });
      const [, ns, name, verb] = m;
      if (ns !== ns0) return send(res, 403, { error: 'no access' });
      if (!name) {
        if (req.method === 'GET') return send(res, 200, { items: [...eps.values()] });
        const b = JSON.parse(body || '{}');
        if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(b.name || '')) return send(res, 400, { error: 'invalid name' });
        if (eps.has(b.name)) return send(res, 409, { error: `Endpoint '${b.name}' already exists in namespace '${ns}'` });
        const ep = { ...b, healthRoute: '/health', status: { createdAt: now(), createdBy: { name: 'admin' }, message: '' } };
        eps.set(b.name, ep); setState(ep, 'pending');
        setTimeout(() => eps.get(b.name) === ep && ep.status.state === 'pending' && setState(ep, 'running'), 1500);
        return send(res, 200, ep);
      }
      const ep = eps.get(name);
      if (!ep) return send(res, 404, { error: `Endpoint ${name} not found` });
      if (verb === 'logs') return send(res, 200, logs.get(`${ns}/${name}`) || '', 'text/plain');
      if (verb === 'events') {
        const items = (logs.get(`${ns}/${name}`) || '').split('\n').filter(Boolean)
          .map((l) => ({ ts: l.slice(0, l.indexOf(' ')), kind: 'state', message: l.slice(l.indexOf(' ') + 1) }));
        return send(res, 200, { items });
      }
      if (verb === 'pause') { setState(ep, 'paused'); return send(res, 200, ep); }
      if (verb === 'resume') { setState(ep, 'pending'); setTimeout(() => ep.status.state === 'pending' && setState(ep, 'running'), 1500); return send(res, 200, ep); }
      if (verb === 'scale-to-zero') { setState(ep, 'scaledToZero'); return send(res, 200, ep); }
      if (req.method === 'DELETE') { eps.delete(name); return send(res, 200, {}); }
      if (req.method === 'PUT') {
        const merge = (dst, src) => { for (const [k, v] of Object.entries(src)) {
          if (v === null) continue;
          if (typeof v === 'object' && !Array.isArray(v) && dst[k] && typeof dst[k] === 'object') merge(dst[k], v); else dst[k] = v;
        } };
        merge(ep, JSON.parse(body || '{}'));
      }
      return send(res, 200, ep);
    });
    return undefined;
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve({ stop: () => new Promise((r) => server.close(r)) })));
}
