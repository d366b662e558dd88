// Unit tests (node --test, no browser) for the dashboard's pure modules: Prometheus parsing,
// histogram quantiles and rates, SSE parsing across chunk boundaries, name rules, snippets.
// Quantile goldens are worked by hand from Prometheus' documented histogram_quantile rule
// (linear interpolation inside the bucket that holds rank q*count, lower bound 0 for the first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseProm, forEndpoint, quantile, snapshot, derive, EndpointMetrics } from '../../web/metrics.js';
import { readSSE } from '../../web/playground.js';
import { nameError } from '../../web/create.js';
import { snippets } from '../../web/snippets.js';

const TEXT = `# HELP endpointd_requests_total Requests
# TYPE endpointd_requests_total counter
endpointd_requests_total{namespace="admin",endpoint="a",code="200"} 10
endpointd_requests_total{namespace="admin",endpoint="a",code="503"} 2
endpointd_requests_total{namespace="admin",endpoint="b",code="200"} 99
endpointd_request_duration_seconds_bucket{namespace="admin",endpoint="a",le="0.1"} 2
endpointd_request_duration_seconds_bucket{namespace="admin",endpoint="a",le="0.5"} 6
endpointd_request_duration_seconds_bucket{namespace="admin",endpoint="a",le="1"} 10
endpointd_request_duration_seconds_bucket{namespace="admin",endpoint="a",le="+Inf"} 10
endpointd_queue_depth{namespace="admin",endpoint="a"} 3
endpointd_replicas_ready{endpoint="admin/a"} 1
endpointd_replicas_target{endpoint="admin/a"} 2
weird_label{namespace="admin",endpoint="a",msg="x\\"y,z=1"} 7
`;

test('parseProm reads names, labels (with escapes) and values', () => {
  const s = parseProm(TEXT);
  assert.equal(s.length, 11);
  assert.deepEqual(s[0], { name: 'endpointd_requests_total', labels: { namespace: 'admin', endpoint: 'a', code: '200' }, value: 10 });
  assert.equal(s[6].labels.le, '+Inf');
  assert.equal(s[10].labels.msg, 'x"y,z=1');
  assert.equal(s[10].value, 7);
  assert.equal(forEndpoint(s, 'admin', 'a').length, 10);
  assert.equal(forEndpoint(s, 'admin', 'b').length, 1);
});

test('quantile interpolates within buckets of the delta', () => {
  const zero = new Map([[0.1, 0], [0.5, 0], [1, 0], [Infinity, 0]]);
  const cur = new Map([[0.1, 2], [0.5, 6], [1, 10], [Infinity, 10]]);
  assert.ok(Math.abs(quantile(0.5, zero, cur) - 0.4) < 1e-12); // rank 5 in (0.1,0.5]: 0.1+0.4*3/4
  assert.ok(Math.abs(quantile(0.99, zero, cur) - 0.9875) < 1e-12); // rank 9.9 in (0.5,1]: 0.5+0.5*3.9/4
  assert.ok(Math.abs(quantile(0.5, zero, new Map([[0.1, 4], [0.5, 4], [1, 4], [Infinity, 4]])) - 0.05) < 1e-12);
  assert.equal(quantile(0.5, cur, cur), null); // no new observations
  // All observations above the last finite bound: answer that bound, as Prometheus does.
  assert.equal(quantile(0.5, zero, new Map([[0.1, 0], [0.5, 0], [1, 0], [Infinity, 5]])), 1);
});

test('derive gives rates and gauges between two polls', () => {
  const s1 = snapshot(forEndpoint(parseProm(TEXT), 'admin', 'a'), 1000);
  const next = TEXT.replace('code="200"} 10', 'code="200"} 30');
  const s2 = snapshot(forEndpoint(parseProm(next), 'admin', 'a'), 3000);
  const p = derive(s1, s2);
  assert.equal(p.rps, 10); // 20 requests in 2 s
  assert.equal(p.queue, 3);
  assert.equal(p.ready, 1);
  assert.equal(p.target, 2);
  assert.equal(p.p50, null);
  const m = new EndpointMetrics('admin', 'a');
  m.feed(TEXT, 0); m.feed(next, 4000);
  assert.equal(m.points.length, 1);
  assert.equal(m.points[0].rps, 5);
  assert.ok(m.seen);
});

test('readSSE splits data lines across arbitrary chunk boundaries', async () => {
  const parts = ['data: {"token":{"text":"He"}}\n', '\ndata:{"tok', 'en":{"text":"llo"}}\r\n\r\n: keep-alive\n\n', 'data: [DONE]'];
  const enc = new TextEncoder();
  const body = new ReadableStream({ start(c) { for (const p of parts) c.enqueue(enc.encode(p)); c.close(); } });
  const got = [];
  await readSSE(new Response(body), (d) => got.push(d));
  assert.deepEqual(got, ['{"token":{"text":"He"}}', '{"token":{"text":"llo"}}', '[DONE]']);
  // A multi-byte character split across chunks survives.
  const bytes = enc.encode('data: {"t":"é"}\n\n');
  const cut = bytes.indexOf(0xc3) + 1;
  const body2 = new ReadableStream({ start(c) { c.enqueue(bytes.slice(0, cut)); c.enqueue(bytes.slice(cut)); c.close(); } });
  const got2 = [];
  await readSSE(new Response(body2), (d) => got2.push(JSON.parse(d).t));
  assert.deepEqual(got2, ['é']);
});

test('endpoint name rules', () => {
  for (const ok of ['a', '0', 'my-endpoint', 'a'.repeat(32), '9-x-']) assert.equal(nameError(ok), '', ok);
  assert.match(nameError(''), /required/);
  assert.match(nameError('a'.repeat(33)), /at most 32/);
  assert.match(nameError('-abc'), /start with/);
  assert.match(nameError('Abc'), /start with/);
  assert.match(nameError('ab_c'), /"_"/);
  assert.match(nameError('ab.c'), /"\."/);
});

test('snippets target the endpoint and never embed a token', () => {
  const s = snippets('generate', { origin: 'http://h:1', url: 'http://h:1/endpoints/ns/e', ns: 'ns', name: 'e',
    body: { inputs: "it's", parameters: { max_new_tokens: 5 } } });
  assert.match(s.curl, /^curl -N http:\/\/h:1\/endpoints\/ns\/e\/generate_stream/);
  assert.ok(s.curl.includes(`'{"inputs":"it'\\''s","parameters":{"max_new_tokens":5}}'`));
  assert.ok(s.python.includes('HF_ENDPOINT"] = "http://h:1"'));
  assert.ok(s.python.includes('INFERENCE_ENDPOINTS_ENDPOINT = "http://h:1/v2"'));
  assert.ok(s.js.includes('endpointUrl: "http://h:1/endpoints/ns/e"'));
  for (const k of ['chat', 'embed', 'classify']) {
    const t = snippets(k, { origin: 'o', url: 'u', ns: 'n', name: 'e', body: { inputs: 'x', messages: [{ role: 'user', content: 'hi' }] } });
    assert.ok(t.curl && t.python && t.js);
    assert.ok(t.curl.includes('$HF_TOKEN'));
  }
});
