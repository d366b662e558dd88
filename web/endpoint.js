// Endpoint page: status + timeline, pause/resume/scale-to-zero/delete (confirmation dialog),
// update form (replicas, model), live logs (polled every 2 s: tail=400), the timeline from
// GET .../events and metrics charts from GET /metrics; hosts the playground.
import * as api from './api.js';
import { h, clear, field, badge, fmtTime, copyButton, announce, poller } from './util.js';
import { CHARTS, EndpointMetrics, drawChart } from './metrics.js';
import { renderPlayground } from './playground.js';

function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '—')]));
}

function confirmDialog(title, text, okLabel) {
  return new Promise((resolve) => {
    const ok = h('button', { type: 'button', class: 'btn danger solid', value: 'ok' }, okLabel);
    const cancel = h('button', { type: 'button', class: 'btn', value: 'cancel' }, 'Cancel');
    const dlg = h('dialog', { 'aria-labelledby': 'dlg-h', 'aria-describedby': 'dlg-p', id: 'confirm-dialog' },
      h('h2', { id: 'dlg-h' }, title), h('p', { id: 'dlg-p' }, text), h('div', { class: 'row' }, cancel, ok));
    const done = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    ok.addEventListener('click', () => done(true));
    cancel.addEventListener('click', () => done(false));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    document.body.append(dlg);
    dlg.showModal();
    cancel.focus();
  });
}

export function renderEndpoint(ctx, ns, name) {
  const m = clear(ctx.main);
  const title = h('h1', {}, name);
  const badgeBox = h('span', { id: 'ep-state', 'aria-live': 'polite' });
  title.append(badgeBox);
  const err = h('div', { class: 'alert', role: 'alert', id: 'ep-error' });
  const statusBox = h('div');
  const timeline = h('ol', { class: 'timeline', 'aria-label': 'Timeline' });
  const events = []; // {t, text}
  const addEvent = (t, text) => {
    if (events.some((e) => e.text === text && e.t === t)) return;
    events.push({ t, text });
    events.sort((a, b) => (a.t < b.t ? 1 : -1));
    clear(timeline).append(...events.slice(0, 80).map((e) => h('li', {}, h('time', {}, fmtTime(e.t)), e.text)));
  };

  // Actions
  let ep = null; let stopped = false;
  const busy = (on) => actions.querySelectorAll('button').forEach((b) => { b.disabled = on; });
  const doAction = async (verb, label) => {
    busy(true); err.textContent = '';
    try {
      const r = await api.action(ns, name, verb);
      if (r && r.status) show(r);
      announce(`${label} requested for ${name}`);
    } catch (e) { err.textContent = `${label} failed: ${e.message}`; }
    busy(false);
  };
  const actions = h('div', { class: 'row', role: 'group', 'aria-label': 'Endpoint actions' },
    h('button', { type: 'button', class: 'btn', id: 'act-pause', onclick: () => doAction('pause', 'Pause') }, 'Pause'),
    h('button', { type: 'button', class: 'btn', id: 'act-resume', onclick: () => doAction('resume', 'Resume') }, 'Resume'),
    h('button', { type: 'button', class: 'btn', id: 'act-scale', onclick: () => doAction('scale-to-zero', 'Scale to zero') }, 'Scale to zero'),
    h('button', { type: 'button', class: 'btn danger', id: 'act-delete', onclick: async () => {
      if (!await confirmDialog(`Delete ${name}?`, `This stops all replicas of ${ns}/${name} and removes it. This cannot be undone.`, 'Delete')) return;
      busy(true);
      try {
        stopAll();
        await api.deleteEndpoint(ns, name);
        announce(`Endpoint ${ns}/${name} deleted`);
        location.hash = '#/';
      } catch (e) { err.textContent = `Delete failed: ${e.message}`; busy(false); startPolls(); }
    } }, 'Delete'));

  // Update form
  const up = {};
  const upField = (k, label, control) => { const r = field(label, control); up[k] = r.input; return r.wrap; };
  const upErr = h('div', { class: 'alert', role: 'alert' });
  const upForm = h('form', { 'aria-label': 'Update endpoint' },
    h('div', { class: 'form-grid' },
      upField('minReplica', 'Min replicas', h('input', { type: 'number', min: 0 })),
      upField('maxReplica', 'Max replicas', h('input', { type: 'number', min: 1 })),
      upField('scaleToZeroTimeout', 'Scale-to-zero timeout (min)', h('input', { type: 'number', min: 1 })),
      upField('repository', 'Model repository', h('input', { spellcheck: 'false' })),
      upField('revision', 'Revision', h('input', { spellcheck: 'false' }))),
    upErr, h('div', { class: 'row' }, h('button', { type: 'submit', class: 'btn primary' }, 'Update')));
  let upFilled = false;
  upForm.addEventListener('submit', async (e) => {
    e.preventDefault(); upErr.textContent = '';
    const int = (el) => (el.value === '' ? undefined : Number.parseInt(el.value, 10));
    const scaling = {};
    for (const k of ['minReplica', 'maxReplica', 'scaleToZeroTimeout']) if (int(up[k]) !== undefined) scaling[k] = int(up[k]);
    if (scaling.minReplica > scaling.maxReplica) { upErr.textContent = 'Min replicas must not exceed max replicas.'; return; }
    const body = { compute: { scaling } };
    const model = {};
    if (up.repository.value.trim() && up.repository.value.trim() !== ep?.model?.repository) model.repository = up.repository.value.trim();
    if (up.revision.value.trim() && up.revision.value.trim() !== ep?.model?.revision) model.revision = up.revision.value.trim();
    if (Object.keys(model).length) body.model = model;
    try { show(await api.updateEndpoint(ns, name, body)); announce(`Update of ${name} submitted`); } catch (ex) { upErr.textContent = ex.message; }
  });

  // Logs
  const logPre = h('pre', { class: 'logs', tabindex: 0, 'aria-label': 'Endpoint logs', id: 'ep-logs' });
  const follow = h('input', { type: 'checkbox', id: 'logs-follow', checked: true });
  const logErr = h('span', { class: 'error' });
  let lastLog = '';
  const loadLogs = async () => {
    try {
      const txt = await api.logs(ns, name, 400);
      logErr.textContent = '';
      if (txt !== lastLog) {
        const atBottom = logPre.scrollTop + logPre.clientHeight >= logPre.scrollHeight - 8;
        logPre.textContent = txt || '(no log lines yet)';
        if (follow.checked && atBottom !== false) logPre.scrollTop = logPre.scrollHeight;
        lastLog = txt;
      }
    } catch (e) { logErr.textContent = `Logs: ${e.message}`; }
  };

  // Timeline: the endpoint's stored events (created, state changes, pause/resume, updates).
  const loadEvents = async () => {
    try {
      const r = await api.events(ns, name, 80);
      for (const e of (r && r.items) || []) addEvent(e.ts, `${e.kind}: ${e.message}`.slice(0, 160));
    } catch { /* the status card shows errors; the timeline keeps what it has */ }
  };

  // Metrics
  const mx = new EndpointMetrics(ns, name);
  const chartBoxes = CHARTS.map((c) => h('div', { class: 'chart', id: `chart-${c.id}` }));
  const mNote = h('p', { class: 'muted', hidden: true }, 'No per-endpoint samples in /metrics yet.');
  const loadMetrics = async () => {
    try {
      const txt = await api.metricsText();
      mx.feed(txt, Date.now(), { ready: ep?.status?.readyReplica, target: ep?.status?.targetReplica });
      mNote.hidden = mx.seen;
    } catch (e) { mNote.hidden = false; mNote.textContent = `Metrics unavailable: ${e.message}`; }
    CHARTS.forEach((c, i) => drawChart(chartBoxes[i], c, mx.points));
  };

  const pgBox = h('div');
  let pg = null;
  m.append(
    h('p', {}, h('a', { href: '#/' }, '← All endpoints'), h('span', { class: 'muted' }, ` · ${ns}`)),
    title, err,
    h('div', { class: 'grid2' },
      h('section', { class: 'card', 'aria-labelledby': 'st-h' }, h('h2', { id: 'st-h' }, 'Status'), statusBox,
        h('div', { style: 'margin-top:12px' }, actions)),
      h('section', { class: 'card', 'aria-labelledby': 'tl-h' }, h('h2', { id: 'tl-h' }, 'Timeline'), timeline)),
    h('section', { class: 'card', 'aria-labelledby': 'pg-h', style: 'margin-top:16px' }, h('h2', { id: 'pg-h' }, 'Playground'), pgBox),
    h('section', { class: 'card', 'aria-labelledby': 'mx-h' }, h('h2', { id: 'mx-h' }, 'Metrics'), mNote, h('div', { class: 'charts' }, chartBoxes)),
    h('section', { class: 'card', 'aria-labelledby': 'up-h' }, h('h2', { id: 'up-h' }, 'Update'), upForm),
    h('section', { class: 'card', 'aria-labelledby': 'lg-h' }, h('h2', { id: 'lg-h' }, 'Logs'),
      h('div', { class: 'row' }, h('div', { class: 'field check' }, follow, h('label', { for: 'logs-follow' }, 'Follow')),
        h('button', { type: 'button', class: 'btn small', onclick: loadLogs }, 'Refresh'), logErr), logPre),
  );

  let lastState = null;
  function show(e) {
    ep = e;
    const st = e.status || {};
    clear(badgeBox).append(badge(st.state));
    if (lastState && st.state !== lastState) announce(`${name} is now ${st.state}`);
    lastState = st.state;
    const c = e.compute || {}; const sc = c.scaling || {}; const md = e.model || {};
    const image = md.image && md.image.custom ? `custom: ${md.image.custom.url}` : 'built-in engine';
    clear(statusBox).append(kv([
      ['State', h('span', {}, badge(st.state), ' ', st.message || '')],
      ...(st.errorMessage ? [['Error', h('span', { class: 'error' }, st.errorMessage)]] : []),
      ['URL', st.url ? h('span', {}, h('span', { class: 'mono', id: 'ep-url' }, st.url), ' ', copyButton(st.url, 'Copy', 'URL')) : '— (not routable in this state)'],
      ['Replicas', `${st.readyReplica ?? 0} ready / ${st.targetReplica ?? 0} target (min ${sc.minReplica ?? '—'}, max ${sc.maxReplica ?? '—'})`],
      ['Scale to zero', sc.scaleToZeroTimeout ? `after ${sc.scaleToZeroTimeout} min idle` : 'off'],
      ['Model', h('span', { class: 'mono' }, `${md.repository || '—'}${md.revision ? `@${md.revision}` : ''}`)],
      ['Task', md.task || '—'], ['Image', image], ['Access', e.type || '—'],
      ['Hardware', `${e.provider?.vendor || '—'}/${e.provider?.region || '—'} · ${c.accelerator || '—'} ${c.instanceType || ''} ${c.instanceSize || ''}`],
      ['Created', fmtTime(st.createdAt)], ['Updated', `${fmtTime(st.updatedAt)}${st.updatedBy && st.updatedBy.name ? ` by ${st.updatedBy.name}` : ''}`],
    ]));
    if (!upFilled) {
      up.minReplica.value = sc.minReplica ?? ''; up.maxReplica.value = sc.maxReplica ?? '';
      up.scaleToZeroTimeout.value = sc.scaleToZeroTimeout ?? '';
      up.repository.value = md.repository || ''; up.revision.value = md.revision || '';
      upFilled = true;
    }
    if (!pg) pg = renderPlayground(pgBox, e);
    else pg.update(e);
  }

  let polls = [];
  const loadEp = async () => {
    try { show(await api.getEndpoint(ns, name)); err.textContent = ''; } catch (e) {
      err.textContent = e.status === 404 ? `Endpoint ${ns}/${name} not found.` : e.message;
      if (e.status === 404) stopAll();
    }
  };
  function stopAll() { polls.forEach((p) => p.stop()); polls = []; }
  function startPolls() {
    if (stopped) return;
    polls = [poller(loadEp, 2000), poller(loadMetrics, 2000), poller(loadEvents, 2000),
      poller(async () => { if (follow.checked || !lastLog) await loadLogs(); }, 2000)];
  }
  startPolls();
  return { stop() { stopped = true; stopAll(); if (pg) pg.stop(); } };
}
