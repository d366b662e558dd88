// Create-endpoint form mirroring huggingface_hub's create_inference_endpoint: name validated as
// you type, hardware from GET /v2/provider, optional custom image; server errors shown inline.
import * as api from './api.js';
import { h, clear, field, select, announce } from './util.js';

export const NAME_RE = /^[a-z0-9][a-z0-9-]{0,31}$/;
export function nameError(name) {
  if (!name) return 'Name is required.';
  if (name.length > 32) return `Name is ${name.length} characters; at most 32 allowed.`;
  if (!/^[a-z0-9]/.test(name)) return 'Name must start with a lowercase letter or digit.';
  const bad = name.match(/[^a-z0-9-]/);
  if (bad) return `Character "${bad[0]}" is not allowed: use lowercase letters, digits and "-".`;
  return '';
}

const TASKS = ['text-generation', 'text2text-generation', 'feature-extraction', 'sentence-embeddings',
  'sentence-similarity', 'text-classification', 'custom'];
const FALLBACK_CATALOG = { vendors: [{ name: 'local', regions: [{ name: 'local', computes: [
  { id: 'local-cpu-x1', accelerator: 'cpu', instanceType: 'cpu', instanceSize: 'x1', status: 'available' }] }] }] };

function parseEnv(text) {
  const env = {};
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`Environment line ${i + 1} must be KEY=VALUE.`);
    env[line.slice(0, eq).trim()] = line.slice(eq + 1);
  }
  return env;
}

export function renderCreate(ctx) {
  const m = clear(ctx.main);
  const f = {};
  const add = (key, label, control, hint) => { const r = field(label, control, hint); f[key] = r.input; return r.wrap; };
  const nameErr = h('p', { class: 'error', id: 'name-error', 'aria-live': 'polite' });
  const formErr = h('div', { class: 'alert', id: 'create-error', role: 'alert' });

  const nameWrap = add('name', 'Endpoint name', h('input', {
    name: 'name', required: true, autocomplete: 'off', spellcheck: 'false', maxlength: 64,
    placeholder: 'my-endpoint' }), '1–32 characters: a-z, 0-9 and "-", starting with a letter or digit.');
  f.name.setAttribute('aria-describedby', `${f.name.getAttribute('aria-describedby')} name-error`);
  nameWrap.append(nameErr);
  const validateName = () => {
    const msg = f.name.value ? nameError(f.name.value) : '';
    nameErr.textContent = msg;
    f.name.setAttribute('aria-invalid', msg ? 'true' : 'false');
    return !nameError(f.name.value);
  };
  f.name.addEventListener('input', validateName);

  const general = h('fieldset', {}, h('legend', {}, 'Endpoint'), h('div', { class: 'form-grid' },
    add('namespace', 'Namespace', select(ctx.namespaces, ctx.namespaces[0])),
    nameWrap,
    add('type', 'Access type', select([['protected', 'protected (any platform token)'],
      ['authenticated', 'authenticated (same as protected)'], ['private', 'private (namespace members)'],
      ['public', 'public (no token)']], 'protected')),
  ));
  const model = h('fieldset', {}, h('legend', {}, 'Model'), h('div', { class: 'form-grid' },
    add('repository', 'Repository', h('input', { name: 'repository', required: true, placeholder: 'gpt2 or /path/to/model', spellcheck: 'false' }),
      'Hub id, local folder or cached repository.'),
    add('revision', 'Revision (optional)', h('input', { name: 'revision', spellcheck: 'false' })),
    add('task', 'Task', select(TASKS, 'text-generation')),
    add('framework', 'Framework', select(['pytorch', 'custom'], 'pytorch')),
  ));
  const hw = h('fieldset', {}, h('legend', {}, 'Hardware and scaling'), h('div', { class: 'form-grid' },
    add('vendor', 'Vendor', h('select')),
    add('region', 'Region', h('select')),
    add('compute', 'Instance (accelerator · type · size)', h('select')),
    add('minReplica', 'Min replicas', h('input', { type: 'number', min: 0, max: 64, value: 1 })),
    add('maxReplica', 'Max replicas', h('input', { type: 'number', min: 1, max: 64, value: 1 })),
    add('scaleToZeroTimeout', 'Scale-to-zero timeout (minutes)', h('input', { type: 'number', min: 1, placeholder: 'off' }),
      'Only used when min replicas is 0.'),
  ));
  f.useCustom = h('input', { type: 'checkbox', id: 'use-custom' });
  const customGrid = h('div', { class: 'form-grid', hidden: true },
    add('imageUrl', 'Image URL', h('input', { placeholder: 'ghcr.io/huggingface/text-generation-inference:latest', spellcheck: 'false' })),
    add('healthRoute', 'Health route', h('input', { value: '/health', spellcheck: 'false' })),
    add('port', 'Port', h('input', { type: 'number', min: 1, max: 65535, value: 80 })),
    add('env', 'Environment (KEY=VALUE per line)', h('textarea', { rows: 3, spellcheck: 'false' })),
  );
  f.useCustom.addEventListener('change', () => { customGrid.hidden = !f.useCustom.checked; });
  const custom = h('fieldset', {}, h('legend', {}, 'Container'),
    h('div', { class: 'field check' }, f.useCustom, h('label', { for: 'use-custom' }, 'Use a custom image')), customGrid);

  const submit = h('button', { type: 'submit', class: 'btn primary' }, 'Create endpoint');
  const form = h('form', { class: 'card', novalidate: true, 'aria-labelledby': 'create-h' },
    general, model, hw, custom, formErr, h('div', { class: 'row' }, submit, h('a', { href: '#/', class: 'btn' }, 'Cancel')));
  m.append(h('h1', { id: 'create-h' }, 'New endpoint'), form);

  // Hardware selects from the provider catalog.
  let catalog = FALLBACK_CATALOG;
  const fillRegions = () => {
    const v = catalog.vendors.find((x) => x.name === f.vendor.value) || catalog.vendors[0];
    clear(f.region).append(...(v ? v.regions : []).map((r) => h('option', { value: r.name, text: r.name })));
    fillComputes();
  };
  const fillComputes = () => {
    const v = catalog.vendors.find((x) => x.name === f.vendor.value) || catalog.vendors[0];
    const r = v && (v.regions.find((x) => x.name === f.region.value) || v.regions[0]);
    clear(f.compute);
    for (const [i, c] of ((r && r.computes) || []).entries()) {
      const extra = [c.numCpus ? `${c.numCpus} CPU` : '', c.memoryGb ? `${c.memoryGb} GB` : ''].filter(Boolean).join(', ');
      const label = `${c.accelerator} · ${c.instanceType} · ${c.instanceSize}${extra ? ` (${extra})` : ''}` +
        (c.status && c.status !== 'available' ? ` — ${c.status}` : '');
      f.compute.append(h('option', { value: String(i), text: label, disabled: c.status === 'not_available' }));
      f.compute.options[f.compute.options.length - 1].comp = c;
    }
  };
  f.vendor.addEventListener('change', fillRegions);
  f.region.addEventListener('change', fillComputes);
  const loadCatalog = async () => {
    try {
      const c = await api.providers();
      if (c && Array.isArray(c.vendors) && c.vendors.length) catalog = c;
    } catch (e) {
      formErr.textContent = `Could not load the hardware catalog (${e.message}); using local CPU.`;
    }
    clear(f.vendor).append(...catalog.vendors.map((v) => h('option', { value: v.name, text: v.name })));
    fillRegions();
  };
  loadCatalog();

  const buildBody = () => {
    const opt = f.compute.selectedOptions[0];
    const comp = (opt && opt.comp) || FALLBACK_CATALOG.vendors[0].regions[0].computes[0];
    const int = (el) => (el.value === '' ? null : Number.parseInt(el.value, 10));
    const scaling = { minReplica: int(f.minReplica), maxReplica: int(f.maxReplica) };
    const stz = int(f.scaleToZeroTimeout);
    if (stz !== null) scaling.scaleToZeroTimeout = stz;
    const body = {
      name: f.name.value.trim(), type: f.type.value, accountId: null,
      provider: { vendor: f.vendor.value, region: f.region.value },
      compute: { accelerator: comp.accelerator, instanceType: comp.instanceType, instanceSize: comp.instanceSize, scaling },
      model: { repository: f.repository.value.trim(), revision: f.revision.value.trim() || null,
        task: f.task.value, framework: f.framework.value, image: { huggingface: {} } },
    };
    if (f.useCustom.checked) {
      const env = parseEnv(f.env.value);
      body.model.image = { custom: { url: f.imageUrl.value.trim(), healthRoute: f.healthRoute.value.trim() || '/health',
        port: int(f.port) || 80 } };
      if (Object.keys(env).length) body.model.env = env;
    }
    return body;
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    formErr.textContent = '';
    if (!validateName()) { nameErr.textContent = nameError(f.name.value); f.name.focus(); return; }
    if (!f.repository.value.trim()) { formErr.textContent = 'Repository is required.'; f.repository.focus(); return; }
    const mn = Number(f.minReplica.value); const mx = Number(f.maxReplica.value);
    if (!(mx >= 1) || !(mn >= 0) || mn > mx) { formErr.textContent = 'Replicas: need 0 ≤ min ≤ max and max ≥ 1.'; return; }
    if (f.useCustom.checked && !f.imageUrl.value.trim()) { formErr.textContent = 'Custom image needs a URL.'; return; }
    let body;
    try { body = buildBody(); } catch (ex) { formErr.textContent = ex.message; return; }
    submit.disabled = true;
    try {
      const ns = f.namespace.value;
      const ep = await api.createEndpoint(ns, body);
      announce(`Endpoint ${ns}/${(ep && ep.name) || body.name} created`);
      location.hash = `#/ep/${encodeURIComponent(ns)}/${encodeURIComponent(body.name)}`;
    } catch (ex) {
      formErr.textContent = ex.message;
      formErr.focus && formErr.setAttribute('tabindex', '-1');
    } finally {
      submit.disabled = false;
    }
  });
  f.name.focus();
  return { stop() {} };
}
