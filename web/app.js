// Dashboard entry: sign-in, hash router (#/, #/new, #/ep/{ns}/{name}) and the endpoint list,
// which polls every namespace the token can see every 2 s and updates state badges in place.
import * as api from './api.js';
import { h, clear, field, badge, fmtAgo, fmtTime, copyButton, announce, poller } from './util.js';
import { renderCreate } from './create.js';
import { renderEndpoint } from './endpoint.js';

const main = () => document.getElementById('main');
const state = { me: null, namespaces: [], view: null };

api.setUnauthorizedHandler(() => {
  if (!api.getToken()) return;
  api.clearToken();
  state.me = null;
  announce('Session expired or token rejected; please sign in again', 'error');
  route();
});

function stopView() {
  if (state.view && state.view.stop) state.view.stop();
  state.view = null;
}

function renderNav() {
  const nav = clear(document.getElementById('nav'));
  if (!state.me) return;
  nav.append(
    h('a', { href: '#/', class: 'btn small' }, 'Endpoints'),
    h('a', { href: '#/new', class: 'btn small primary' }, 'New endpoint'),
    h('span', { class: 'who' }, `Signed in as ${state.me.name}`),
    h('button', { type: 'button', class: 'btn small', onclick: signOut }, 'Sign out'),
  );
}

function signOut() {
  api.clearToken();
  state.me = null;
  announce('Signed out');
  location.hash = '#/';
  route();
}

function renderSignIn(message) {
  stopView();
  renderNav();
  const m = clear(main());
  const tok = field('Access token', h('input', {
    type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, name: 'token',
  }), 'Kept in this tab only (sessionStorage); sent as a Bearer token.');
  const err = h('p', { class: 'error', id: 'signin-error', role: 'alert', text: message || '' });
  const form = h('form', { class: 'card signin', 'aria-labelledby': 'signin-h' },
    h('h1', { id: 'signin-h' }, 'Sign in to endpointd'),
    tok.wrap, err,
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'btn primary' }, 'Sign in')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const t = tok.input.value.trim();
    if (!t) { err.textContent = 'Enter a token.'; return; }
    api.setToken(t);
    try {
      await loadMe();
      tok.input.value = '';
      announce(`Signed in as ${state.me.name}`);
      route();
    } catch (ex) {
      api.clearToken();
      err.textContent = ex.status === 401 ? 'Invalid token.' : ex.message;
    }
  });
  m.append(form);
  tok.input.focus();
}

async function loadMe() {
  state.me = await api.whoami();
  state.namespaces = api.namespacesOf(state.me);
}

// ---- endpoint list ----
function epRow(ep, ns) {
  const st = ep.status || {};
  const href = `#/ep/${encodeURIComponent(ns)}/${encodeURIComponent(ep.name)}`;
  const url = st.url;
  const row = h('tr', { dataset: { key: `${ns}/${ep.name}` } },
    h('td', { 'data-label': 'Name' }, h('a', { href, class: 'ep-link' }, ep.name)),
    h('td', { 'data-label': 'Namespace' }, ns),
    h('td', { 'data-label': 'State', class: 'state' }, badge(st.state)),
    h('td', { 'data-label': 'URL', class: 'url' }, url
      ? [h('span', { class: 'mono', title: url }, url), ' ', copyButton(url, 'Copy', 'URL')]
      : h('span', { class: 'muted' }, '—')),
    h('td', { 'data-label': 'Task' }, (ep.model && ep.model.task) || '—'),
    h('td', { 'data-label': 'Model', class: 'mono' }, (ep.model && ep.model.repository) || '—'),
    h('td', { 'data-label': 'Replicas', class: 'replicas' },
      `${st.readyReplica ?? 0}/${st.targetReplica ?? 0}`),
    h('td', { 'data-label': 'Updated' },
      h('time', { datetime: st.updatedAt || '', title: fmtTime(st.updatedAt) }, fmtAgo(st.updatedAt))));
  return row;
}

function renderList() {
  const m = clear(main());
  const tbody = h('tbody');
  const err = h('div', { class: 'alert', role: 'alert' });
  const empty = h('div', { class: 'empty', hidden: true },
    'No endpoints yet. ', h('a', { href: '#/new' }, 'Create one'), '.');
  const table = h('table', { class: 'eps', 'aria-describedby': 'eps-caption' },
    h('caption', { id: 'eps-caption', class: 'offscreen' }, 'Endpoints in all your namespaces'),
    h('thead', {}, h('tr', {}, ['Name', 'Namespace', 'State', 'URL', 'Task', 'Model', 'Replicas', 'Updated']
      .map((t) => h('th', { scope: 'col' }, t)))),
    tbody);
  m.append(h('h1', {}, 'Endpoints'), err, h('div', { class: 'card' }, table, empty));
  const last = new Map();
  const p = poller(async () => {
    const rows = []; const errors = [];
    await Promise.all(state.namespaces.map(async (ns, i) => {
      try {
        const r = await api.listEndpoints(ns);
        for (const ep of (r && r.items) || []) rows.push({ ep, ns, i });
      } catch (e) {
        if (i === 0) errors.push(`${ns}: ${e.message}`); // orgs we cannot list are skipped
      }
    }));
    rows.sort((a, b) => a.i - b.i || a.ep.name.localeCompare(b.ep.name));
    err.textContent = errors.join('; ');
    // Replace only rows whose content changed, so focus (e.g. on a copy button) survives polls.
    const keep = new Set();
    let prevRow = null;
    for (const { ep, ns } of rows) {
      const key = `${ns}/${ep.name}`;
      const s = ep.status && ep.status.state;
      if (last.has(key) && last.get(key) !== s) announce(`${key} is now ${s}`);
      last.set(key, s);
      keep.add(key);
      const sig = JSON.stringify([ep.status, ep.model && ep.model.task, ep.model && ep.model.repository]);
      let row = [...tbody.children].find((r) => r.dataset.key === key);
      if (!row || row.dataset.sig !== sig) {
        const fresh = epRow(ep, ns);
        fresh.dataset.sig = sig;
        if (row) row.replaceWith(fresh);
        row = fresh;
      } else {
        const t = row.querySelector('time');
        if (t) t.textContent = fmtAgo(t.getAttribute('datetime'));
      }
      if (prevRow ? prevRow.nextSibling !== row : tbody.firstChild !== row) {
        if (prevRow) prevRow.after(row); else tbody.prepend(row);
      }
      prevRow = row;
    }
    for (const r of [...tbody.children]) if (!keep.has(r.dataset.key)) r.remove();
    empty.hidden = rows.length > 0;
    table.hidden = rows.length === 0;
  }, 2000);
  return p;
}

// ---- router ----
async function route() {
  stopView();
  if (!api.getToken()) { renderSignIn(); return; }
  if (!state.me) {
    try { await loadMe(); } catch (e) {
      if (e.status === 401) { api.clearToken(); renderSignIn('Invalid token.'); return; }
      clear(main()).append(h('div', { class: 'alert', role: 'alert' }, `Cannot reach the server: ${e.message}`));
      return;
    }
  }
  renderNav();
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const ctx = { me: state.me, namespaces: state.namespaces, main: main() };
  if (parts[0] === 'new') state.view = renderCreate(ctx);
  else if (parts[0] === 'ep' && parts[1] && parts[2]) state.view = renderEndpoint(ctx, parts[1], parts[2]);
  else state.view = renderList();
  const h1 = main().querySelector('h1');
  if (h1) document.title = `${h1.textContent} · endpointd`;
}

window.addEventListener('hashchange', route);
route();
