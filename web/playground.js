// Playground on an endpoint's data-plane URL: streaming text generation and chat (fetch +
// ReadableStream SSE parsing), embeddings with cosine similarity, classification; plus snippets.
import { authHeaders } from './api.js';
import { h, clear, field, copyButton, fmtNum } from './util.js';
import { snippets } from './snippets.js';

// Reads an SSE response body and calls onData(payloadString) for each `data:` line.
export async function readSSE(res, onData, signal) {
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    if (signal && signal.aborted) { reader.cancel(); return; }
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, '');
      buf = buf.slice(nl + 1);
      if (line.startsWith('data:')) onData(line.slice(5).trimStart());
    }
  }
  buf += dec.decode();
  if (buf.startsWith('data:')) onData(buf.slice(5).trimStart());
}

async function post(url, body, signal) {
  const res = await fetch(url, { method: 'POST', signal, body: JSON.stringify(body),
    headers: authHeaders({ 'Content-Type': 'application/json' }) });
  if (!res.ok) {
    const t = await res.text();
    let msg = t;
    try { const j = JSON.parse(t); msg = typeof j.error === 'string' ? j.error : (j.error?.message || j.message || t); } catch { /* text */ }
    throw new Error(`HTTP ${res.status}: ${msg || res.statusText}`);
  }
  return res;
}

const cosine = (a, b) => {
  let d = 0; let na = 0; let nb = 0;
  for (let i = 0; i < a.length; i += 1) { d += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return na && nb ? d / Math.sqrt(na * nb) : 0;
};

const TABS = [['generate', 'Generate'], ['chat', 'Chat'], ['embed', 'Embeddings'], ['classify', 'Classification']];
function defaultTab(task) {
  if (/embedding|feature|similarity/.test(task || '')) return 'embed';
  if (/classification/.test(task || '')) return 'classify';
  return 'generate';
}

export function renderPlayground(box, ep) {
  let cur = ep; let ctrl = null;
  let tab = defaultTab(ep.model && ep.model.task);
  const note = h('p', { class: 'muted' });
  const tablist = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Playground mode' });
  const panel = h('div', { role: 'tabpanel', id: 'pg-panel' });
  const snipBox = h('div', { class: 'snippets' });
  const out = h('div', { class: 'out', id: 'pg-output', 'aria-live': 'polite', 'aria-label': 'Playground output' });
  const perr = h('div', { class: 'alert', role: 'alert' });
  const inputs = {};
  clear(box).append(note, tablist, panel, perr, out, h('h3', {}, 'Code'), snipBox);

  const origin = location.origin;
  const url = () => (cur.status && cur.status.url) || `${origin}/endpoints/${encodeURIComponent(nsOf())}/${encodeURIComponent(cur.name)}`;
  function nsOf() { const m = location.hash.match(/^#\/ep\/([^/]+)\//); return m ? decodeURIComponent(m[1]) : ''; }

  const bodyFor = (k) => {
    if (k === 'generate') return { inputs: inputs.prompt.value, parameters: { max_new_tokens: Number(inputs.maxNew.value) || 64,
      ...(Number(inputs.temp.value) > 0 ? { temperature: Number(inputs.temp.value), do_sample: true } : { do_sample: false }) } };
    if (k === 'chat') return { model: 'tgi', messages: [...(inputs.system.value.trim() ? [{ role: 'system', content: inputs.system.value }] : []),
      { role: 'user', content: inputs.user.value }], max_tokens: Number(inputs.maxTok.value) || 128, stream: true };
    if (k === 'embed') { const lines = inputs.texts.value.split('\n').map((s) => s.trim()).filter(Boolean); return { inputs: lines.length === 1 ? lines[0] : lines }; }
    return { inputs: inputs.ctext.value };
  };
  const renderSnips = () => {
    const s = snippets(tab, { origin, url: url(), ns: nsOf(), name: cur.name, body: bodyFor(tab) });
    clear(snipBox);
    for (const [k, label] of [['curl', 'curl'], ['python', 'Python'], ['js', 'JavaScript']]) {
      const pre = h('pre', { class: 'snippet', id: `snip-${k}`, tabindex: 0, 'aria-label': `${label} example` }, s[k]);
      snipBox.append(h('div', { class: 'row' }, h('strong', {}, label), copyButton(() => pre.textContent, 'Copy', `${label} snippet`)), pre);
    }
  };

  const run = h('button', { type: 'submit', class: 'btn primary', id: 'pg-run' }, 'Run');
  const stopBtn = h('button', { type: 'button', class: 'btn', disabled: true, onclick: () => ctrl && ctrl.abort() }, 'Stop');

  function buildPanel() {
    clear(panel);
    const add = (k, label, control) => { const r = field(label, control); inputs[k] = r.input; r.input.addEventListener('input', renderSnips); return r.wrap; };
    let fields;
    if (tab === 'generate') {
      fields = [add('prompt', 'Prompt', h('textarea', { rows: 3 }, 'Once upon a time')),
        h('div', { class: 'form-grid' }, add('maxNew', 'Max new tokens', h('input', { type: 'number', min: 1, value: 64 })),
          add('temp', 'Temperature (0 = greedy)', h('input', { type: 'number', min: 0, step: 0.1, value: 0 })))];
    } else if (tab === 'chat') {
      fields = [add('system', 'System message (optional)', h('textarea', { rows: 2 })),
        add('user', 'User message', h('textarea', { rows: 3 }, 'Tell me a short story.')),
        add('maxTok', 'Max tokens', h('input', { type: 'number', min: 1, value: 128 }))];
    } else if (tab === 'embed') {
      fields = [add('texts', 'Sentences (one per line; similarity to the first is shown)', h('textarea', { rows: 4 },
        'A cat sits on the mat.\nA kitten is resting on a rug.\nStock markets fell today.'))];
    } else {
      fields = [add('ctext', 'Text to classify', h('textarea', { rows: 3 }, 'I love this movie!'))];
    }
    const form = h('form', { 'aria-label': 'Playground input' }, fields, h('div', { class: 'row', style: 'margin-top:8px' }, run, stopBtn));
    form.addEventListener('submit', (e) => { e.preventDefault(); execute(); });
    panel.append(form);
    panel.setAttribute('aria-labelledby', `tab-${tab}`);
    renderSnips();
  }

  function buildTabs() {
    clear(tablist);
    for (const [k, label] of TABS) {
      const b = h('button', { type: 'button', role: 'tab', id: `tab-${k}`, 'aria-selected': k === tab ? 'true' : 'false',
        'aria-controls': 'pg-panel', tabindex: k === tab ? 0 : -1 }, label);
      b.addEventListener('click', () => { tab = k; buildTabs(); buildPanel(); clear(out); perr.textContent = ''; });
      b.addEventListener('keydown', (e) => {
        const i = TABS.findIndex(([x]) => x === k);
        const j = e.key === 'ArrowRight' ? (i + 1) % TABS.length : e.key === 'ArrowLeft' ? (i + TABS.length - 1) % TABS.length : -1;
        if (j >= 0) { tab = TABS[j][0]; buildTabs(); buildPanel(); tablist.querySelector('[aria-selected=true]').focus(); }
      });
      tablist.append(b);
    }
  }

  async function execute() {
    perr.textContent = ''; clear(out);
    if (!(cur.status && cur.status.url)) { perr.textContent = 'This endpoint has no URL in its current state (resume it first).'; return; }
    ctrl = new AbortController(); run.disabled = true; stopBtn.disabled = false;
    const base = cur.status.url; const body = bodyFor(tab);
    const t0 = performance.now(); let n = 0;
    const stat = () => `\n\n— ${n} chunks in ${fmtNum((performance.now() - t0) / 1000)} s`;
    try {
      if (tab === 'generate') {
        const res = await post(`${base}/generate_stream`, body, ctrl.signal);
        const text = document.createTextNode(''); out.append(text);
        await readSSE(res, (d) => {
          if (d === '[DONE]') return;
          const j = JSON.parse(d);
          if (j.error) throw new Error(typeof j.error === 'string' ? j.error : j.error.message);
          if (j.token && !j.token.special) { text.data += j.token.text; n += 1; }
        }, ctrl.signal);
        out.append(stat());
      } else if (tab === 'chat') {
        const res = await post(`${base}/v1/chat/completions`, body, ctrl.signal);
        const text = document.createTextNode(''); out.append(text);
        await readSSE(res, (d) => {
          if (d === '[DONE]') return;
          const j = JSON.parse(d);
          if (j.error) throw new Error(typeof j.error === 'string' ? j.error : j.error.message);
          const c = j.choices && j.choices[0] && j.choices[0].delta && j.choices[0].delta.content;
          if (c) { text.data += c; n += 1; }
        }, ctrl.signal);
        out.append(stat());
      } else if (tab === 'embed') {
        const texts = Array.isArray(body.inputs) ? body.inputs : [body.inputs];
        const vecs = await (await post(`${base}/embed`, { inputs: texts }, ctrl.signal)).json();
        out.append(`${vecs.length} vectors × ${vecs[0] ? vecs[0].length : 0} dims\n`);
        texts.forEach((t, i) => out.append(`${i === 0 ? 'source' : `cos ${fmtNum(cosine(vecs[0], vecs[i]), 4)}`}  ${t}\n`));
      } else {
        const r = await (await post(`${base}/predict`, body, ctrl.signal)).json();
        const rows = Array.isArray(r[0]) ? r[0] : r;
        for (const { label, score } of rows) {
          out.append(h('div', { class: 'row' }, h('span', { style: 'min-width:120px' }, label),
            h('div', { class: 'bar', style: `width:${Math.round(score * 200)}px`, 'aria-hidden': 'true' }), fmtNum(score, 4)));
        }
      }
    } catch (e) {
      if (e.name !== 'AbortError') perr.textContent = e.message;
    } finally { run.disabled = false; stopBtn.disabled = true; ctrl = null; }
  }

  function update(e) {
    const urlChanged = !cur.status || !e.status || cur.status.url !== e.status.url;
    cur = e;
    if (urlChanged) renderSnips();
    const s = e.status || {};
    note.textContent = s.url ? `Requests go to ${s.url}` : `No URL while ${s.state}; resume the endpoint to use the playground.`;
  }
  buildTabs(); buildPanel(); update(ep);
  return { update, stop() { if (ctrl) ctrl.abort(); } };
}
