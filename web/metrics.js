// Prometheus text parsing and per-endpoint charts: rates and histogram quantiles are computed
// from counter/bucket deltas between two polls of GET /metrics, then drawn as small SVG lines.
import { h, clear, fmtNum } from './util.js';

// Parses the text exposition format into [{name, labels, value}] (comments and TYPE lines skipped).
export function parseProm(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let l;
      while ((l = re.exec(m[3]))) labels[l[1]] = l[2].replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
    }
    const v = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    out.push({ name: m[1], labels, value: v });
  }
  return out;
}

// A sample belongs to ns/name when labels carry namespace+name (or endpoint="ns/name").
export function forEndpoint(samples, ns, name) {
  const full = `${ns}/${name}`;
  return samples.filter((s) => {
    const L = s.labels;
    if (L.endpoint === full) return true;
    if (L.namespace === ns && (L.endpoint === name || L.name === name)) return true;
    return false;
  });
}

const sum = (xs) => xs.reduce((a, s) => a + s.value, 0);
const bySuffix = (samples, suffix) => samples.filter((s) => s.name.endsWith(suffix));

// Cumulative buckets {le -> count} of the first histogram whose name ends with `base`.
function buckets(samples, base) {
  const b = new Map();
  for (const s of bySuffix(samples, `${base}_bucket`)) {
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    b.set(le, (b.get(le) || 0) + s.value);
  }
  return b;
}

// Quantile from bucket deltas, linear inside the bucket (as Prometheus histogram_quantile does).
export function quantile(q, prev, cur) {
  const les = [...cur.keys()].sort((a, b) => a - b);
  const d = les.map((le) => Math.max(0, cur.get(le) - (prev.get(le) || 0)));
  const total = d[d.length - 1];
  if (!total) return null;
  const rank = q * total;
  for (let i = 0; i < les.length; i += 1) {
    if (d[i] >= rank) {
      if (les[i] === Infinity) return i > 0 ? les[i - 1] : null;
      const lo = i > 0 ? les[i - 1] : 0; const clo = i > 0 ? d[i - 1] : 0;
      const span = d[i] - clo;
      return span > 0 ? lo + (les[i] - lo) * ((rank - clo) / span) : les[i];
    }
  }
  return null;
}

export function snapshot(samples, t) {
  const g = (suffix) => { const x = bySuffix(samples, suffix); return x.length ? sum(x) : null; };
  return {
    t,
    requests: g('requests_total'),
    lat: buckets(samples, 'request_duration_seconds'),
    queue: g('queue_depth'),
    inflight: g('in_flight'),
    ready: g('replicas_ready'),
    target: g('replicas_target'),
    wakes: g('wakes_total'),
    wakeSum: g('wake_duration_seconds_sum'),
    wakeCount: g('wake_duration_seconds_count'),
  };
}

// One chart point from two consecutive snapshots.
export function derive(prev, cur) {
  const dt = (cur.t - prev.t) / 1000;
  const rate = (a, b) => (a === null || b === null || dt <= 0 ? null : Math.max(0, b - a) / dt);
  const dc = cur.wakeCount !== null && prev.wakeCount !== null ? cur.wakeCount - prev.wakeCount : 0;
  return {
    t: cur.t,
    rps: rate(prev.requests, cur.requests),
    p50: quantile(0.5, prev.lat, cur.lat),
    p99: quantile(0.99, prev.lat, cur.lat),
    queue: cur.queue,
    ready: cur.ready,
    target: cur.target,
    wake: dc > 0 ? (cur.wakeSum - prev.wakeSum) / dc : null,
  };
}

function path(points, key, w, hgt, max, t0, t1) {
  let d = ''; let pen = false;
  for (const p of points) {
    const v = p[key];
    if (v === null || v === undefined || !Number.isFinite(v)) { pen = false; continue; }
    const x = t1 > t0 ? ((p.t - t0) / (t1 - t0)) * w : w;
    const y = hgt - (max > 0 ? (v / max) * (hgt - 4) : 0) - 2;
    d += `${pen ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`;
    pen = true;
  }
  return d;
}

const NS = 'http://www.w3.org/2000/svg';
function svgEl(tag, attrs) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

// Chart spec: {title, keys:[k1,k2?], unit, scale}
export function drawChart(box, spec, points) {
  const W = 300; const H = 80;
  const vals = points.flatMap((p) => spec.keys.map((k) => p[k])).filter((v) => Number.isFinite(v));
  const max = Math.max(spec.min || 0, ...vals) * 1.1;
  const t1 = points.length ? points[points.length - 1].t : 0;
  const t0 = points.length ? points[0].t : 0;
  const lastOf = (k) => { for (let i = points.length - 1; i >= 0; i -= 1) if (Number.isFinite(points[i][k])) return points[i][k]; return null; };
  const cur = spec.keys.map((k) => { const v = lastOf(k); return v === null ? '—' : `${fmtNum(v * (spec.scale || 1))}${spec.unit || ''}`; }).join(' / ');
  const svg = svgEl('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img',
    'aria-label': `${spec.title}: ${cur}` });
  svg.append(svgEl('line', { x1: 0, y1: H - 1, x2: W, y2: H - 1, class: 'axis' }));
  spec.keys.forEach((k, i) => {
    const d = path(points, k, W, H, max, t0, t1);
    if (d) svg.append(svgEl('path', { d, class: i ? 'line2' : 'line', 'vector-effect': 'non-scaling-stroke' }));
  });
  clear(box).append(h('h3', {}, spec.title, h('output', {}, cur)), svg);
}

export const CHARTS = [
  { id: 'rps', title: 'Requests/s', keys: ['rps'], unit: '' },
  { id: 'lat', title: 'Latency p50 / p99', keys: ['p50', 'p99'], unit: ' ms', scale: 1000 },
  { id: 'queue', title: 'Queue depth', keys: ['queue'], unit: '', min: 1 },
  { id: 'replicas', title: 'Replicas ready / target', keys: ['ready', 'target'], unit: '', min: 1 },
  { id: 'wake', title: 'Wake time (avg)', keys: ['wake'], unit: ' s' },
];

// Keeps a rolling window of points for one endpoint; feed() takes the /metrics text.
export class EndpointMetrics {
  constructor(ns, name, keep = 90) { this.ns = ns; this.name = name; this.keep = keep; this.prev = null; this.points = []; this.seen = false; }
  feed(text, now = Date.now(), fallback = {}) {
    const samples = forEndpoint(parseProm(text), this.ns, this.name);
    if (samples.length) this.seen = true;
    const snap = snapshot(samples, now);
    if (snap.ready === null && fallback.ready !== undefined) snap.ready = fallback.ready;
    if (snap.target === null && fallback.target !== undefined) snap.target = fallback.target;
    if (this.prev) {
      this.points.push(derive(this.prev, snap));
      if (this.points.length > this.keep) this.points.shift();
    }
    this.prev = snap;
  }
}
