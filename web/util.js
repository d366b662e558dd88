// Small DOM and formatting helpers shared by the dashboard views.
// h() builds elements without innerHTML so server strings are never parsed as HTML.

export function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

export function clear(el) { while (el.firstChild) el.firstChild.remove(); return el; }

let idSeq = 0;
export function uid(prefix = 'f') { idSeq += 1; return `${prefix}-${idSeq}`; }

// A labelled form field: returns {wrap, input}; `control` may be an element or a tag name.
export function field(label, control, hint) {
  const input = typeof control === 'string' ? h(control) : control;
  if (!input.id) input.id = uid('in');
  const kids = [h('label', { for: input.id, text: label }), input];
  if (hint) {
    const hid = `${input.id}-hint`;
    kids.push(h('small', { id: hid, class: 'hint', text: hint }));
    input.setAttribute('aria-describedby', hid);
  }
  return { wrap: h('div', { class: 'field' }, kids), input };
}

export function select(options, value) {
  const s = h('select');
  for (const o of options) {
    const [v, t] = Array.isArray(o) ? o : [o, o];
    const opt = h('option', { value: v, text: t });
    if (v === value) opt.selected = true;
    s.append(opt);
  }
  return s;
}

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, { hour12: false });
}

export function fmtAgo(iso) {
  if (!iso) return '—';
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (!Number.isFinite(s)) return String(iso);
  if (s < 5) return 'just now';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function fmtNum(v, digits = 2) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (Math.abs(v) >= 100) return v.toFixed(0);
  return v.toFixed(digits);
}

const live = () => document.getElementById('live');
// Announce a message to screen readers (and show it briefly as a toast).
export function announce(msg, kind = 'info') {
  const el = live();
  if (!el) return;
  el.textContent = msg;
  el.dataset.kind = kind;
  el.classList.add('show');
  clearTimeout(announce.t);
  announce.t = setTimeout(() => el.classList.remove('show'), 3500);
}

export async function copyText(text, what = 'Text') {
  try {
    if (navigator.clipboard && window.isSecureContext) await navigator.clipboard.writeText(text);
    else {
      const ta = h('textarea', { class: 'offscreen', 'aria-hidden': 'true' });
      ta.value = text;
      document.body.append(ta);
      ta.select();
      document.execCommand('copy');
      ta.remove();
    }
    announce(`${what} copied`);
  } catch {
    announce(`Could not copy ${what.toLowerCase()}`, 'error');
  }
}

export function copyButton(getText, label = 'Copy', what = 'Text') {
  return h('button', {
    type: 'button', class: 'btn small copy', 'aria-label': `${label} ${what.toLowerCase()}`,
    onclick: () => copyText(typeof getText === 'function' ? getText() : getText, what),
  }, label);
}

export function badge(state) {
  const s = state || 'unknown';
  return h('span', { class: `badge st-${s}`, dataset: { state: s }, text: s });
}

// Runs fn now and every `ms` until stop() is called; never overlaps calls.
export function poller(fn, ms) {
  let stopped = false; let timer = null;
  const tick = async () => {
    if (stopped) return;
    try { await fn(); } catch { /* each view shows its own errors */ }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return { stop() { stopped = true; clearTimeout(timer); } };
}
