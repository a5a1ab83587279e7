/* app.js — kplane web page: talks to /api/v1 and renders clusters, groups, plans, what-if and live status. */
'use strict';
(() => {
  const BASE = '/api/v1';
  const STRATEGIES = ['balanced', 'weighted', 'flink', 'range', 'roundrobin'];
  const POLL_MS = 2500;
  const TOKEN_KEY = 'kplane.token';
  const $ = (id) => document.getElementById(id);
  const enc = encodeURIComponent;
  const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ESC[c]);
  const fmt = (n) => (typeof n === 'number' && isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: 1 }) : '–');
  const pkey = (p) => p.cluster + '/' + p.topic + '/' + p.partition;

  /* ---------- API access, problem+json, token ---------- */

  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || 'HTTP ' + status);
      this.status = status;
      this.problem = problem || {};
    }
  }

  const token = () => { try { return localStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; } };
  let tokenPrompt = null;
  /* After the user cancels the dialog we stop asking on every poll; the header button asks again. */
  let tokenDeclined = false;

  function askToken(sentWith) {
    /* Another request already got a new token while this one was in flight: just retry. */
    if (token() !== sentWith) return Promise.resolve(true);
    if (tokenDeclined) return Promise.resolve(false);
    if (!tokenPrompt) {
      tokenPrompt = new Promise((resolve) => {
        const d = $('token-dialog');
        $('token-input').value = '';
        d.addEventListener('close', () => {
          tokenPrompt = null;
          const v = $('token-input').value.trim();
          const ok = d.returnValue === 'ok' && v !== '';
          if (ok) { try { localStorage.setItem(TOKEN_KEY, v); } catch { /* private mode: keep for this request only */ } }
          else tokenDeclined = true;
          resolve(ok);
        }, { once: true });
        d.returnValue = '';
        d.showModal();
      });
    }
    return tokenPrompt;
  }

  async function api(method, path, body, opts = {}) {
    for (let attempt = 0; ; attempt++) {
      const headers = { Accept: 'application/json, application/problem+json' };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      const sent = token();
      if (sent) headers.Authorization = 'Bearer ' + sent;
      let res;
      try {
        res = await fetch(BASE + path, {
          method, headers, signal: opts.signal,
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (e) {
        if (e.name === 'AbortError') throw e;
        setConn('kplane is not answering');
        throw new ApiError(0, { title: 'Network error', detail: 'kplane did not answer (' + e.message + ')' });
      }
      setConn('');
      if (res.status === 401 && attempt === 0 && await askToken(sent)) continue;
      const text = await res.text();
      let data = null;
      if (text) { try { data = JSON.parse(text); } catch { data = null; } }
      if (!res.ok) {
        throw new ApiError(res.status, data && typeof data === 'object'
          ? data : { title: res.statusText || 'HTTP ' + res.status, status: res.status, detail: text.slice(0, 300) });
      }
      return data;
    }
  }

  function setConn(msg) { const c = $('conn'); if (c.textContent !== msg) c.textContent = msg; }

  /* Shows a problem (or any error) in @el; marks the form fields it names as invalid. */
  function showProblem(el, err, form) {
    if (form) form.querySelectorAll('[aria-invalid]').forEach((f) => f.removeAttribute('aria-invalid'));
    if (!err) { el.hidden = true; el.textContent = ''; return; }
    const p = err.problem || { title: 'Error', detail: String(err.message || err) };
    let html = '<strong>' + esc(p.title || 'Error') + '</strong>' + (p.status ? ' <span class="muted">(' + esc(p.status) + ')</span>' : '');
    if (p.detail) html += ': <span class="detail">' + esc(p.detail) + '</span>';
    const errs = Array.isArray(p.errors) ? p.errors : [];
    if (errs.length) {
      html += '<ul>' + errs.map((e) => '<li><code>' + esc(e.field || '') + '</code> ' + esc(e.message || '') + '</li>').join('') + '</ul>';
    }
    el.innerHTML = html;
    el.hidden = false;
    if (form) {
      for (const e of errs) {
        const f = fieldFor(form, String(e.field || ''));
        if (f) f.setAttribute('aria-invalid', 'true');
      }
    }
  }

  /* "config.foo" → the input with data-field="config"; "embedded.topics[0].name" → "embedded.topics". */
  function fieldFor(form, field) {
    let f = field;
    while (f) {
      const el = form.querySelector('[data-field="' + CSS.escape(f) + '"]');
      if (el) return el;
      const cut = Math.max(f.lastIndexOf('.'), f.lastIndexOf('['));
      f = cut > 0 ? f.slice(0, cut) : '';
    }
    return null;
  }

  const localError = (detail, errors) => new ApiError(0, { title: 'Check the form', detail, errors });

  /* ---------- routing ---------- */

  const views = ['overview', 'clusters', 'groups', 'whatif'];
  let currentView = '';

  function route() {
    const h = location.hash.replace(/^#\/?/, '');
    const parts = h.split('/').map((s) => { try { return decodeURIComponent(s); } catch { return s; } });
    const view = views.includes(parts[0]) ? parts[0] : 'overview';
    for (const v of views) {
      $('view-' + v).hidden = v !== view;
      const a = $('nav-' + v);
      if (v === view) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
    if (view !== 'groups') stopPolling();
    if (view !== 'overview') stopOverview();
    currentView = view;
    if (view === 'overview') openOverview();
    else if (view === 'clusters') loadClusters(parts[1]);
    else if (view === 'groups') loadGroups(parts[1], parts[2] === 'new');
    else openWhatif();
  }

  /* ---------- shared: registered topics ---------- */

  let clusters = [];
  /* Registered topics of every cluster: [{cluster, name, partitions}] and patterns [{cluster, pattern, topics}]. */
  async function loadRegistry() {
    clusters = (await api('GET', '/clusters')).items || [];
    const lists = await Promise.all(clusters.map((c) =>
      api('GET', '/clusters/' + enc(c.name) + '/topics').then((r) => r.items || [], () => [])));
    const topics = [], patterns = [];
    lists.forEach((items, i) => {
      for (const t of items) {
        const cluster = t.cluster || clusters[i].name;
        if (t.pattern !== undefined) patterns.push(Object.assign({ cluster }, t));
        else topics.push({ cluster, name: t.name, partitions: t.partitions });
      }
    });
    return { topics, patterns };
  }

  /* ---------- clusters and topics ---------- */

  async function loadClusters(selected) {
    const list = $('cluster-list');
    try {
      clusters = (await api('GET', '/clusters')).items || [];
    } catch (e) {
      list.innerHTML = '<li class="empty">could not list clusters</li>';
      showProblem($('cluster-detail'), e);
      return;
    }
    list.innerHTML = clusters.length ? clusters.map((c) =>
      '<li><button type="button" data-testid="cluster-row" data-name="' + esc(c.name) + '"' +
      (c.name === selected ? ' aria-current="true"' : '') + '>' + esc(c.name) +
      '<span class="sub">' + (c.embedded ? 'embedded' : esc(c.bootstrap_servers || '')) + '</span></button></li>').join('')
      : '<li class="empty">No clusters yet.</li>';
    if (selected) showCluster(selected);
    else $('cluster-detail').innerHTML = '<p class="muted">Pick a cluster to see its topics, partitions and live metadata.</p>';
  }

  async function showCluster(name) {
    const box = $('cluster-detail');
    let c, topics;
    try {
      [c, topics] = await Promise.all([
        api('GET', '/clusters/' + enc(name)),
        api('GET', '/clusters/' + enc(name) + '/topics').then((r) => r.items || []),
      ]);
    } catch (e) {
      box.innerHTML = '<div class="problem" role="alert"></div>';
      showProblem(box.firstChild, e);
      return;
    }
    const cfg = Object.entries(c.config || {});
    box.innerHTML =
      '<div class="titlebar"><h2 data-testid="cluster-title">' + esc(c.name) + '</h2>' +
      '<span class="state">' + (c.embedded ? 'embedded' : 'external') + '</span><span class="spacer"></span>' +
      '<button type="button" class="danger" data-action="delete-cluster">Delete</button></div>' +
      '<div id="cluster-action-error" class="problem" role="alert" hidden></div>' +
      '<dl class="kv"><dt>Bootstrap servers</dt><dd><code>' + esc(c.bootstrap_servers || '') + '</code></dd>' +
      '<dt>Created</dt><dd>' + esc(c.created_at || '') + '</dd>' +
      cfg.map(([k, v]) => '<dt><code>' + esc(k) + '</code></dt><dd><code>' + esc(v) + '</code></dd>').join('') + '</dl>' +
      '<section class="card"><h3>Registered topics</h3>' +
      '<table data-testid="topic-list"><thead><tr><th scope="col">Topic</th><th scope="col" class="num">Partitions</th><th scope="col">Partitions</th><th scope="col">Discovered</th><th scope="col"><span class="hint">actions</span></th></tr></thead><tbody>' +
      (topics.length ? topics.map((t) => t.pattern !== undefined
        ? '<tr data-testid="topic-row" data-pattern="' + esc(t.pattern) + '"><td>pattern <code>' + esc(t.pattern) + '</code></td><td class="num">' +
          esc((t.topics || []).length) + ' topics</td><td colspan="2">' + esc((t.topics || []).map((x) => x.name || x).join(', ')) + '</td><td></td></tr>'
        : '<tr data-testid="topic-row" data-name="' + esc(t.name) + '"><td>' + esc(t.name) + '</td><td class="num">' + esc(t.partitions) +
          '</td><td>' + partBar(t.partitions) + '</td><td>' + esc(t.discovered_at || '') + '</td><td>' +
          '<button type="button" data-action="refresh-topic" data-topic="' + esc(t.name) + '">Refresh</button> ' +
          '<button type="button" class="danger" data-action="delete-topic" data-topic="' + esc(t.name) + '">Remove</button></td></tr>').join('')
        : '<tr><td colspan="5" class="muted">No topics registered.</td></tr>') +
      '</tbody></table>' +
      '<form id="topic-form" data-testid="topic-form" class="row" novalidate>' +
      '<label>Register <select id="tf-kind" data-field="kind"><option value="name">topic</option><option value="pattern">pattern (regex)</option></select></label>' +
      '<label>Name or pattern <input id="tf-value" data-field="name" autocomplete="off" placeholder="orders"></label>' +
      '<button type="submit" data-testid="topic-submit">Register</button></form>' +
      '<div id="topic-form-error" data-testid="topic-form-error" class="problem" role="alert" hidden></div></section>' +
      '<section class="card"><div class="titlebar"><h3>Live metadata</h3><span class="spacer"></span>' +
      '<button type="button" data-action="metadata" id="metadata-btn" data-testid="metadata-btn">Read now</button></div>' +
      '<div id="metadata" data-testid="metadata" aria-live="polite"><p class="muted">Reading…</p></div></section>';
    box.dataset.cluster = c.name;
    box.dataset.registered = JSON.stringify(topics.filter((t) => t.name).map((t) => t.name));
    loadMetadata(c.name);
  }

  function partBar(n) {
    const k = Math.min(Number(n) || 0, 200);
    return '<span class="partbar" aria-hidden="true">' + '<i></i>'.repeat(k) + '</span>';
  }

  async function loadMetadata(name) {
    const out = $('metadata');
    if (!out) return;
    out.innerHTML = '<p class="muted">Reading…</p>';
    let m;
    try { m = await api('GET', '/clusters/' + enc(name) + '/metadata'); } catch (e) {
      if ($('cluster-detail').dataset.cluster !== name) return;
      out.innerHTML = '<div class="problem" role="alert"></div>';
      showProblem(out.firstChild, e);
      return;
    }
    if ($('cluster-detail').dataset.cluster !== name) return;
    const reg = new Set(JSON.parse($('cluster-detail').dataset.registered || '[]'));
    const topics = (m.topics || []).slice().sort((a, b) => String(a.name).localeCompare(String(b.name)));
    out.innerHTML =
      '<p><strong>Brokers:</strong> ' + (m.brokers || []).map((b) => '<code>' + esc(b.id) + ' ' + esc(b.host) + ':' + esc(b.port) + '</code>').join(', ') + '</p>' +
      '<table data-testid="metadata-topics"><thead><tr><th scope="col">Topic</th><th scope="col" class="num">Partitions</th><th scope="col">Partitions</th><th scope="col"></th></tr></thead><tbody>' +
      topics.map((t) => '<tr><td>' + esc(t.name) + '</td><td class="num">' + esc(t.partitions) + '</td><td>' + partBar(t.partitions) + '</td><td>' +
        (reg.has(t.name) ? '<span class="muted">registered</span>'
          : '<button type="button" data-action="register" data-topic="' + esc(t.name) + '">Register</button>') + '</td></tr>').join('') +
      '</tbody></table>';
  }

  function initClusters() {
    $('cluster-list').addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-name]');
      if (b) location.hash = '#/clusters/' + enc(b.dataset.name);
    });
    const form = $('cluster-form');
    const syncKind = () => {
      const k = form.querySelector('input[name=kind]:checked').value;
      form.querySelector('.kind-external').hidden = k !== 'external';
      form.querySelector('.kind-embedded').hidden = k !== 'embedded';
    };
    form.addEventListener('change', (ev) => { if (ev.target.name === 'kind') syncKind(); });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const err = $('cluster-form-error');
      let body;
      try { body = clusterBody(form); } catch (e) { showProblem(err, e, form); return; }
      const btn = $('cf-submit');
      btn.disabled = true;
      try {
        const c = await api('POST', '/clusters', body);
        showProblem(err, null, form);
        form.reset(); syncKind();
        $('cluster-add').open = false;
        location.hash = '#/clusters/' + enc(c && c.name ? c.name : body.name);
        if (currentView === 'clusters') loadClusters(c && c.name ? c.name : body.name);
      } catch (e) {
        showProblem(err, e, form);
      } finally { btn.disabled = false; }
    });

    const detail = $('cluster-detail');
    detail.addEventListener('submit', async (ev) => {
      if (ev.target.id !== 'topic-form') return;
      ev.preventDefault();
      const kind = $('tf-kind').value, value = $('tf-value').value;
      $('tf-value').dataset.field = kind; /* so the server's field error lands on this input */
      await registerTopic(detail.dataset.cluster, kind === 'pattern' ? { pattern: value } : { name: value });
    });
    detail.addEventListener('click', async (ev) => {
      const b = ev.target.closest('button[data-action]');
      if (!b) return;
      const c = detail.dataset.cluster;
      const a = b.dataset.action;
      if (a === 'metadata') loadMetadata(c);
      else if (a === 'register') registerTopic(c, { name: b.dataset.topic });
      else if (a === 'refresh-topic' || a === 'delete-topic' || a === 'delete-cluster') {
        if (a !== 'refresh-topic' && !confirm(a === 'delete-cluster' ? 'Delete cluster ' + c + '?' : 'Remove topic ' + b.dataset.topic + '?')) return;
        b.disabled = true;
        try {
          if (a === 'refresh-topic') await api('POST', '/clusters/' + enc(c) + '/topics/' + enc(b.dataset.topic) + '/refresh', {});
          else if (a === 'delete-topic') await api('DELETE', '/clusters/' + enc(c) + '/topics/' + enc(b.dataset.topic));
          else { await api('DELETE', '/clusters/' + enc(c)); location.hash = '#/clusters'; return; }
          showCluster(c);
        } catch (e) {
          showProblem($('cluster-action-error'), e);
          b.disabled = false;
        }
      }
    });
  }

  async function registerTopic(cluster, body) {
    const form = $('topic-form');
    try {
      await api('POST', '/clusters/' + enc(cluster) + '/topics', body);
      await showCluster(cluster);
    } catch (e) {
      showProblem($('topic-form-error'), e, form);
    }
  }

  function clusterBody(form) {
    const name = $('cf-name').value;
    const kind = form.querySelector('input[name=kind]:checked').value;
    if (kind === 'embedded') {
      const topics = [];
      const errors = [];
      $('cf-topics').value.split('\n').forEach((line, i) => {
        const l = line.trim();
        if (!l || l.startsWith('#')) return;
        const m = /^(.+?)(?::(\d+))?$/.exec(l);
        if (!m) errors.push({ field: 'embedded.topics', message: 'line ' + (i + 1) + ': expected name:partitions' });
        else topics.push(m[2] === undefined ? { name: m[1] } : { name: m[1], partitions: Number(m[2]) });
      });
      if (errors.length) throw localError('some topic lines are not name:partitions', errors);
      const brokers = $('cf-brokers').valueAsNumber;
      const embedded = { topics };
      if (Number.isFinite(brokers)) embedded.brokers = brokers;
      return { name, embedded };
    }
    const body = { name, bootstrap_servers: $('cf-bootstrap').value.trim() };
    const config = {};
    const errors = [];
    $('cf-config').value.split('\n').forEach((line, i) => {
      const l = line.trim();
      if (!l || l.startsWith('#')) return;
      const eq = l.indexOf('=');
      if (eq <= 0) errors.push({ field: 'config', message: 'line ' + (i + 1) + ': expected property=value' });
      else config[l.slice(0, eq).trim()] = l.slice(eq + 1).trim();
    });
    if (errors.length) throw localError('some config lines are not property=value', errors);
    if (Object.keys(config).length) body.config = config;
    return body;
  }

  /* ---------- groups ---------- */

  let group = null;        /* the group shown, as the server answered it; null for "new" */
  let planCache = new Map(); /* version → plan document of the shown group */

  async function loadGroups(selected, isNew) {
    const list = $('group-list');
    let items = [];
    try { items = (await api('GET', '/groups')).items || []; } catch (e) {
      list.innerHTML = '<li class="empty">could not list groups</li>';
      $('group-empty').hidden = false;
      $('group-detail').hidden = true;
      showProblem($('group-action-error'), e);
      return;
    }
    list.innerHTML = items.length ? items.map((g) =>
      '<li><button type="button" data-testid="group-row" data-name="' + esc(g.name) + '"' +
      (g.name === selected ? ' aria-current="true"' : '') + '>' + esc(g.name) +
      '<span class="sub">' + esc(g.parallelism) + ' × ' + esc(g.strategy || '') + (g.state ? ' · ' + esc(g.state) : '') + '</span></button></li>').join('')
      : '<li class="empty">No groups yet.</li>';
    if (isNew) showNewGroup();
    else if (selected) await showGroup(selected);
    else { stopPolling(); group = null; $('group-empty').hidden = false; $('group-detail').hidden = true; }
  }

  function fillStrategySelect(sel, value) {
    if (!sel.options.length) sel.innerHTML = STRATEGIES.map((s) => '<option>' + s + '</option>').join('');
    if (value) sel.value = value;
  }

  async function fillTopicChecks(g) {
    const box = $('gf-topics');
    box.innerHTML = '<span class="muted">loading topics…</span>';
    let reg;
    try { reg = await loadRegistry(); } catch (e) { box.innerHTML = ''; showProblem($('group-form-error'), e); return; }
    const chosen = new Set(((g && g.topics) || []).filter((t) => t.topic).map((t) => t.cluster + '\u0000' + t.topic));
    box.innerHTML = reg.topics.length ? reg.topics.map((t, i) =>
      '<label class="check"><input type="checkbox" id="gf-t' + i + '" data-cluster="' + esc(t.cluster) + '" data-topic="' + esc(t.name) + '"' +
      (chosen.has(t.cluster + '\u0000' + t.name) ? ' checked' : '') + '> ' + esc(t.cluster) + ' / ' + esc(t.name) +
      ' <span class="hint">' + esc(t.partitions) + ' partitions</span></label>').join('')
      : '<span class="muted">No topics registered yet: register some under Clusters.</span>';
    $('gf-patterns').value = ((g && g.topics) || []).filter((t) => t.pattern !== undefined).map((t) => t.cluster + ' ' + t.pattern).join('\n');
  }

  function showNewGroup() {
    stopPolling();
    group = null;
    planCache = new Map();
    $('group-empty').hidden = true;
    $('group-detail').hidden = false;
    $('group-title').textContent = 'New group';
    $('group-state').textContent = '';
    for (const id of ['group-start', 'group-stop', 'group-delete']) $(id).hidden = true;
    document.querySelectorAll('#group-detail > section').forEach((s) => { s.hidden = true; });
    const f = $('group-form');
    f.reset();
    $('gf-name').readOnly = false;
    $('gf-parallelism').value = '4';
    fillStrategySelect($('gf-strategy'), 'balanced');
    $('gf-submit').textContent = 'Create group';
    $('group-edit').open = true;
    showProblem($('group-form-error'), null, f);
    showProblem($('group-action-error'), null);
    fillTopicChecks(null);
    $('gf-name').focus();
  }

  async function showGroup(name) {
    let g;
    try { g = await api('GET', '/groups/' + enc(name)); } catch (e) {
      $('group-empty').hidden = true;
      $('group-detail').hidden = false;
      showProblem($('group-action-error'), e);
      return;
    }
    const changed = !group || group.name !== g.name;
    group = g;
    $('group-empty').hidden = true;
    $('group-detail').hidden = false;
    for (const id of ['group-start', 'group-stop', 'group-delete']) $(id).hidden = false;
    document.querySelectorAll('#group-detail > section').forEach((s) => { s.hidden = false; });
    $('group-title').textContent = g.name;
    if (g.state) setGroupState(g.state);
    showProblem($('group-action-error'), null);
    /* Group form in edit mode. */
    const f = $('group-form');
    showProblem($('group-form-error'), null, f);
    $('gf-name').value = g.name;
    $('gf-name').readOnly = true;
    $('gf-parallelism').value = g.parallelism ?? '';
    fillStrategySelect($('gf-strategy'), g.strategy || 'balanced');
    $('gf-start').value = g.start_offset || 'earliest';
    $('gf-rebalance').checked = !!g.rebalance;
    $('gf-sink').value = (g.sink && g.sink.type) || 'discard';
    $('gf-sink-path').value = (g.sink && g.sink.path) || '';
    $('gf-submit').textContent = 'Save changes';
    fillTopicChecks(g);
    if (changed) {
      $('group-edit').open = false;
      planCache = new Map();
      $('pf-parallelism').value = g.parallelism ?? '';
      fillStrategySelect($('pf-strategy'), g.strategy || 'balanced');
      showProblem($('plan-form-error'), null);
      resetStatus();
    }
    await loadPlans(null);
    startPolling(g.name);
  }

  function groupBody() {
    const topics = [];
    document.querySelectorAll('#gf-topics input[type=checkbox]:checked').forEach((c) =>
      topics.push({ cluster: c.dataset.cluster, topic: c.dataset.topic }));
    const errors = [];
    $('gf-patterns').value.split('\n').forEach((line, i) => {
      const l = line.trim();
      if (!l) return;
      const sp = l.search(/\s/);
      if (sp <= 0) errors.push({ field: 'topics', message: 'pattern line ' + (i + 1) + ': expected "cluster regex"' });
      else topics.push({ cluster: l.slice(0, sp), pattern: l.slice(sp).trim() });
    });
    if (errors.length) throw localError('some pattern lines are not "cluster regex"', errors);
    const par = $('gf-parallelism').valueAsNumber;
    const body = {
      name: $('gf-name').value,
      topics,
      parallelism: Number.isFinite(par) ? par : null,
      strategy: $('gf-strategy').value,
      rebalance: $('gf-rebalance').checked,
      start_offset: $('gf-start').value,
      sink: $('gf-sink').value === 'file' ? { type: 'file', path: $('gf-sink-path').value } : { type: 'discard' },
    };
    return body;
  }

  function initGroups() {
    $('group-list').addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-name]');
      if (b) location.hash = '#/groups/' + enc(b.dataset.name);
    });
    $('group-new').addEventListener('click', () => { location.hash = '#/groups//new'; });
    const f = $('group-form');
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const err = $('group-form-error');
      let body;
      try { body = groupBody(); } catch (e) { showProblem(err, e, f); return; }
      $('gf-submit').disabled = true;
      try {
        const g = group
          ? await api('PUT', '/groups/' + enc(group.name), body)
          : await api('POST', '/groups', body);
        showProblem(err, null, f);
        const name = (g && g.name) || body.name;
        if (group && group.name === name) { await loadGroups(name); }
        else location.hash = '#/groups/' + enc(name);
      } catch (e) {
        showProblem(err, e, f);
      } finally { $('gf-submit').disabled = false; }
    });
    for (const action of ['start', 'stop']) {
      $('group-' + action).addEventListener('click', async () => {
        if (!group) return;
        const b = $('group-' + action);
        b.disabled = true;
        try {
          const r = await api('POST', '/groups/' + enc(group.name) + '/' + action, {});
          showProblem($('group-action-error'), null);
          if (r && r.state) setGroupState(r.state);
          pollNow();
          if (action === 'start') loadPlans(null);
        } catch (e) {
          showProblem($('group-action-error'), e);
        } finally { b.disabled = false; }
      });
    }
    $('group-delete').addEventListener('click', async () => {
      if (!group || !confirm('Delete group ' + group.name + '?')) return;
      try {
        await api('DELETE', '/groups/' + enc(group.name));
        stopPolling();
        group = null;
        location.hash = '#/groups';
      } catch (e) { showProblem($('group-action-error'), e); }
    });
    $('plan-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!group) return;
      const body = {};
      const p = $('pf-parallelism').value.trim();
      if (p !== '') body.parallelism = /^\d+$/.test(p) ? Number(p) : p;
      body.strategy = $('pf-strategy').value;
      if ($('pf-apply').checked) body.apply = true;
      $('pf-submit').disabled = true;
      try {
        const plan = await api('POST', '/groups/' + enc(group.name) + '/plans', body);
        showProblem($('plan-form-error'), null, $('plan-form'));
        if (plan && plan.version !== undefined) planCache.set(String(plan.version), plan);
        await loadPlans(plan && plan.version !== undefined ? String(plan.version) : null);
      } catch (e) {
        showProblem($('plan-form-error'), e, $('plan-form'));
      } finally { $('pf-submit').disabled = false; }
    });
    $('plan-version').addEventListener('change', () => renderGroupPlan());
    $('plan-compare').addEventListener('change', () => renderGroupPlan());
  }

  async function getPlan(v) {
    if (planCache.has(v)) return planCache.get(v);
    const p = await api('GET', '/groups/' + enc(group.name) + '/plans/' + enc(v));
    planCache.set(v, p);
    return p;
  }

  /* Lists versions (newest first) into the version and compare pickers; shows @select or the newest. */
  async function loadPlans(select) {
    if (!group) return;
    const name = group.name;
    let items = [];
    try { items = (await api('GET', '/groups/' + enc(name) + '/plans')).items || []; } catch (e) {
      if (e.status !== 404) showProblem($('plan-form-error'), e);
    }
    if (!group || group.name !== name) return;
    const vs = items.map((p) => String(p.version));
    const label = (p) => 'v' + p.version + ' · ' + p.parallelism + ' × ' + p.strategy + (p.created_at ? ' · ' + p.created_at : '');
    const vsel = $('plan-version'), csel = $('plan-compare');
    const keepCompare = csel.value;
    vsel.innerHTML = items.map((p) => '<option value="' + esc(p.version) + '">' + esc(label(p)) + '</option>').join('');
    csel.innerHTML = '<option value="">—</option>' + items.map((p) => '<option value="' + esc(p.version) + '">' + esc(label(p)) + '</option>').join('');
    if (select && vs.includes(select)) vsel.value = select;
    if (keepCompare && vs.includes(keepCompare)) csel.value = keepCompare;
    vsel.dataset.count = String(items.length);
    await renderGroupPlan();
  }

  async function renderGroupPlan() {
    const out = $('plan-view'), cmp = $('plan-compare-out');
    const v = $('plan-version').value;
    if (!v) {
      out.innerHTML = '<p class="muted" data-testid="plan-empty">No plan yet: make one, or start the group.</p>';
      cmp.hidden = true;
      return;
    }
    try {
      const plan = await getPlan(v);
      const other = $('plan-compare').value;
      let moved = null;
      if (other && other !== v) {
        const base = await getPlan(other);
        moved = diffPlans(base, plan);
        cmp.innerHTML = compareHTML(base, plan, moved);
        cmp.hidden = false;
      } else cmp.hidden = true;
      if ($('plan-version').value !== v) return;
      renderPlan(out, plan, moved ? moved.keys : null, 'plan');
      renderFlinkBeside(plan, v);
    } catch (e) {
      out.innerHTML = '<div class="problem" role="alert"></div>';
      showProblem(out.firstChild, e);
    }
  }

  /* The flink strategy's grid for the same topics and parallelism, beside kplane's plan: a
     what-if (nothing stored). Topics and partition counts come from the plan itself. */
  async function renderFlinkBeside(plan, v) {
    const box = $('plan-flink');
    const counts = new Map();
    for (const t of plan.tasks || []) for (const p of t.partitions || []) {
      const k = p.cluster + '\u0000' + p.topic;
      counts.set(k, Math.max(counts.get(k) || 0, p.partition + 1));
    }
    if (!counts.size) { box.innerHTML = ''; return; }
    const topics = [...counts].map(([k, n]) => { const [cluster, topic] = k.split('\u0000'); return { cluster, topic, partitions: n }; });
    try {
      const f = await api('POST', '/plan', { topics, parallelism: plan.parallelism, strategy: 'flink' });
      if ($('plan-version').value !== v) return;
      renderPlan(box, f, null, 'flink');
    } catch (e) {
      box.innerHTML = '<div class="problem" role="alert"></div>';
      showProblem(box.firstChild, e);
    }
  }

  function owners(plan) {
    const m = new Map();
    for (const t of plan.tasks || []) for (const p of t.partitions || []) m.set(pkey(p), t.task);
    return m;
  }

  /* Which partitions of @to changed owner since @from (and which appeared or vanished). */
  function diffPlans(from, to) {
    const a = owners(from), b = owners(to);
    const moved = [], added = [], removed = [];
    for (const [k, t] of b) {
      if (!a.has(k)) added.push([k, t]);
      else if (a.get(k) !== t) moved.push([k, a.get(k), t]);
    }
    for (const [k, t] of a) if (!b.has(k)) removed.push([k, t]);
    return { moved, added, removed, keys: new Set(moved.map((m) => m[0]).concat(added.map((x) => x[0]))) };
  }

  function compareHTML(from, to, d) {
    const name = (k) => { const i = k.lastIndexOf('/'); return k.slice(0, i) + '[' + k.slice(i + 1) + ']'; };
    return '<p data-testid="compare-summary"><strong>' + d.moved.length + '</strong> of ' + owners(to).size +
      ' partitions moved from v' + esc(from.version) + ' (' + esc(from.parallelism) + ' × ' + esc(from.strategy) + ') to v' +
      esc(to.version) + ' (' + esc(to.parallelism) + ' × ' + esc(to.strategy) + ')' +
      (d.added.length ? ', ' + d.added.length + ' new' : '') + (d.removed.length ? ', ' + d.removed.length + ' gone' : '') +
      '. Moved partitions are outlined in the grid.</p>' +
      (d.moved.length ? '<ul data-testid="compare-moved">' + d.moved.map(([k, a, b]) =>
        '<li><code>' + esc(name(k)) + '</code> task ' + esc(a) + ' → ' + esc(b) + '</li>').join('') + '</ul>' : '');
  }

  /* ---------- plan rendering (group plans and what-if) ---------- */

  /* Golden-angle hues keep neighbouring cluster/topic keys apart; lightness keeps white text legible. */
  function keyColors(keys) {
    const out = new Map();
    keys.forEach((k, i) => out.set(k, 'hsl(' + Math.round((i * 137.508 + 210) % 360) + ' 62% ' + (i % 2 ? 36 : 44) + '%)'));
    return out;
  }

  function analysisHTML(a) {
    if (!a) return '';
    const item = (label, v, id) => '<div><dt>' + label + '</dt><dd data-testid="an-' + id + '">' + esc(v) + '</dd></div>';
    return '<dl class="analysis" data-testid="analysis">' +
      item('Case', String(a.case || '').replace(/_/g, ' '), 'case') +
      item('Partitions', a.partitions, 'partitions') +
      item('Tasks', a.tasks, 'tasks') +
      item('Idle tasks', a.idle_tasks, 'idle') +
      item('Partitions per task', a.min_partitions_per_task + '–' + a.max_partitions_per_task, 'range') +
      item('Skew', typeof a.skew === 'number' ? a.skew.toFixed(2) : a.skew, 'skew') +
      item('Moved', a.moved_from_previous ?? '–', 'moved') + '</dl>' +
      ((a.recommendations || []).length ? '<ul class="recs" data-testid="recommendations">' +
        a.recommendations.map((r) => '<li>' + esc(r) + '</li>').join('') + '</ul>' : '');
  }

  /* Builds the whole grid as one string and sets it with one innerHTML: 1,000 tasks in a few ms. */
  function renderPlan(container, plan, movedKeys, testid) {
    const t0 = performance.now();
    const tasks = (plan.tasks || []).slice().sort((x, y) => x.task - y.task);
    const keys = new Set();
    let total = 0;
    for (const t of tasks) for (const p of t.partitions || []) { keys.add(p.cluster + '/' + p.topic); total++; }
    const sorted = [...keys].sort();
    const colors = keyColors(sorted);
    const ideal = tasks.length ? Math.ceil(total / tasks.length) : 0;
    const parts = [];
    for (const t of tasks) {
      const ps = t.partitions || [];
      const cls = ps.length === 0 ? 'task idle' : ps.length > ideal ? 'task hot' : 'task';
      let chips = '';
      for (const p of ps) {
        const k = p.cluster + '/' + p.topic;
        const mv = movedKeys && movedKeys.has(k + '/' + p.partition);
        chips += '<span class="p' + (mv ? ' moved' : '') + '" style="background:' + colors.get(k) + '" title="' +
          esc(k) + ' [' + p.partition + ']' + (mv ? ' (moved)' : '') + '">' + p.partition + '</span>';
      }
      parts.push('<div class="' + cls + '" data-task="' + t.task + '"><b>' + t.task + '</b>' + chips + '</div>');
    }
    const legend = '<ul class="legend" data-testid="legend">' + sorted.map((k) =>
      '<li><i style="background:' + colors.get(k) + '"></i>' + esc(k) + '</li>').join('') +
      '<li><span class="sw idle"></span>idle task</li><li><span class="sw" style="box-shadow: inset 0 0 0 2px #c7741a"></span>more than ⌈P/T⌉ partitions</li></ul>';
    container.innerHTML = analysisHTML(plan.analysis) + legend +
      '<div class="grid" data-testid="' + testid + '-grid" data-tasks="' + tasks.length + '" role="img" aria-label="' +
      tasks.length + ' tasks and the partitions each one reads">' + parts.join('') + '</div>';
    const grid = container.lastChild;
    void grid.offsetHeight; /* force layout so the measured time includes it */
    grid.dataset.renderMs = (performance.now() - t0).toFixed(1);
  }

  /* ---------- live status ---------- */

  let pollTimer = null, pollGroup = null, pollBusy = false, pollCount = 0;
  let bars = [];            /* [{task, row, fill, v}] in task order */
  let sinkRows = [];        /* [{task, cells}] of the sink table, in task order */
  let lagRows = new Map();  /* partition key → {task, pos, hw, lag} cells */

  function startPolling(name) {
    if (pollGroup === name && pollTimer) { pollNow(); return; }
    stopPolling();
    pollGroup = name;
    pollTimer = setInterval(pollNow, POLL_MS);
    pollNow();
  }

  function stopPolling() {
    if (pollTimer) clearInterval(pollTimer);
    pollTimer = null;
    pollGroup = null;
  }

  function resetStatus() {
    bars = [];
    sinkRows = [];
    if ($('st-sink')) $('st-sink').tBodies[0].innerHTML = '';
    lagRows = new Map();
    $('st-tasks').innerHTML = '';
    $('st-parts').tBodies[0].innerHTML = '';
    for (const id of ['st-state', 'st-plan', 'st-messages', 'st-rate', 'st-lag']) $(id).textContent = '–';
    $('st-error').hidden = true;
    $('lh-svg').innerHTML = '';
    $('lh-legend').innerHTML = '';
    $('lag-history').dataset.samples = '0';
  }

  /* ---------- lag history: the server's rings (GET .../history), drawn as lines over time ---------- */

  const LH = { w: 640, h: 170, l: 52, r: 10, t: 10, b: 22 };
  const LH_TOP = 4; /* partitions drawn beside the total: the most lagging */

  /* Draws the total and the top partitions' lag against time; the x axis spans the ring
   * (capacity × interval), ending now, so lines move left as samples come in. */
  function renderHistory(h) {
    const svg = $('lh-svg'), fig = $('lag-history');
    const ts = h.samples.t, span = Math.max(1, (h.capacity || ts.length) * h.interval_ms);
    const end = ts.length ? ts[ts.length - 1] : Date.now(), start = end - span;
    const lines = [{ name: 'total', cls: 'lh-total', t: ts, v: h.samples.lag }]
      .concat(h.partitions.map((p, i) => ({ name: p.cluster + '/' + p.topic + ' [' + p.partition + ']', cls: 'lh-part lh-p' + i, t: h.partition_t, v: p.lag })));
    const ymax = Math.max(5, ...lines.flatMap((l) => l.v.filter((v) => v != null)));
    const step = Math.max(1, niceStep(ymax)), ytop = Math.ceil(ymax / step) * step;
    const iw = LH.w - LH.l - LH.r, ih = LH.h - LH.t - LH.b;
    const x = (t) => (LH.l + (iw * (t - start)) / span).toFixed(1);
    const y = (v) => (LH.t + ih - (ih * v) / ytop).toFixed(1);
    let g = '';
    for (let v = 0; v <= ytop; v += step) {
      g += '<line class="chart-grid" x1="' + LH.l + '" x2="' + (LH.w - LH.r) + '" y1="' + y(v) + '" y2="' + y(v) + '"/>' +
        '<text class="chart-text" x="' + (LH.l - 6) + '" y="' + (Number(y(v)) + 4) + '" text-anchor="end">' + fmt(v) + '</text>';
    }
    const mins = span / 60000;
    for (let m = 0; m <= mins; m += mins > 2 ? 1 : 0.5) {
      g += '<text class="chart-text" x="' + x(end - m * 60000) + '" y="' + (LH.h - 6) + '" text-anchor="middle">' + (m ? '−' + m + ' min' : 'now') + '</text>';
    }
    g += '<line class="chart-axis" x1="' + LH.l + '" x2="' + (LH.w - LH.r) + '" y1="' + (LH.t + ih) + '" y2="' + (LH.t + ih) + '"/>';
    /* a gap (null: not known then) breaks a line rather than drawing it at zero */
    const path = (l) => {
      let d = '', pen = false;
      l.v.forEach((v, i) => {
        if (v == null || l.t[i] < start) { pen = false; return; }
        d += (pen ? 'L' : 'M') + x(l.t[i]) + ' ' + y(v);
        pen = true;
      });
      return d;
    };
    lines.slice().reverse().forEach((l) => {
      g += '<path class="' + l.cls + '" data-testid="' + (l.cls === 'lh-total' ? 'lh-total' : 'lh-part') + '" d="' + path(l) + '"><title>' + esc(l.name) + '</title></path>';
    });
    svg.innerHTML = g;
    const last = h.samples.lag.length ? h.samples.lag[h.samples.lag.length - 1] : null;
    svg.setAttribute('aria-label', 'Lag over the last ' + fmt(mins) + ' minutes: ' + ts.length + ' samples, total now ' + fmt(last));
    const legend = lines.map((l) => '<li><span class="swatch ' + l.cls + '"></span>' + esc(l.name) + '</li>').join('');
    if ($('lh-legend').innerHTML !== legend) $('lh-legend').innerHTML = legend;
    fig.dataset.samples = String(ts.length);
  }

  async function pollNow() {
    const name = pollGroup;
    if (!name || pollBusy) return;
    pollBusy = true;
    try {
      const [s, h] = await Promise.all([api('GET', '/groups/' + enc(name) + '/status'),
        api('GET', '/groups/' + enc(name) + '/history?top=' + LH_TOP).catch(() => null)]);
      if (pollGroup === name) { renderStatus(s); $('st-error').hidden = true; if (h) renderHistory(h); }
    } catch (e) {
      if (pollGroup === name) showProblem($('st-error'), e);
    } finally { pollBusy = false; }
  }

  function setText(el, v) { if (el.textContent !== v) el.textContent = v; }

  function setGroupState(state) {
    const el = $('group-state');
    setText(el, state);
    el.className = 'state ' + state;
    /* Offer only what makes sense now; an unknown state leaves both usable. */
    $('group-start').disabled = state === 'running' || state === 'starting';
    $('group-stop').disabled = state === 'stopped' || state === 'stopping';
  }

  /* The sink table under the task bars (made on first use): each task's sink counters
     (delivered, in flight, retries, dead letters, partitions paused by backpressure, last error). */
  function sinkTable() {
    let t = $('st-sink');
    if (t) return t;
    const box = document.createElement('div');
    box.innerHTML = '<h4>Sink per task <span class="hint">records; in flight: taken, not acknowledged</span></h4>' +
      '<div class="scroll"><table id="st-sink" data-testid="status-sink"><thead><tr>' +
      '<th scope="col">Task</th><th scope="col">Sink</th><th scope="col" class="num">Delivered</th>' +
      '<th scope="col" class="num">In flight</th><th scope="col" class="num">Retries</th>' +
      '<th scope="col" class="num">Dead letters</th><th scope="col" class="num">Paused</th>' +
      '<th scope="col">Last error</th></tr></thead><tbody></tbody></table></div>';
    $('st-tasks').insertAdjacentElement('afterend', box);
    return $('st-sink');
  }

  function renderSink(tasks) {
    const body = sinkTable().tBodies[0];
    if (sinkRows.length !== tasks.length || sinkRows.some((r, i) => r.task !== tasks[i].task)) {
      body.innerHTML = tasks.map((t) => '<tr data-task="' + t.task + '"><td>' + t.task + '</td><td></td>' +
        '<td class="num"></td><td class="num"></td><td class="num"></td><td class="num"></td><td class="num"></td><td></td></tr>').join('');
      sinkRows = tasks.map((t, i) => ({ task: t.task, cells: body.rows[i].cells }));
    }
    tasks.forEach((t, i) => {
      const k = t.sink || {}, c = sinkRows[i].cells;
      setText(c[1], k.type || '–');
      setText(c[2], fmt(k.delivered));
      setText(c[3], fmt(k.in_flight));
      const inBytes = fmt(k.in_flight_bytes) + ' bytes in flight';
      if (c[3].title !== inBytes) c[3].title = inBytes;
      setText(c[4], fmt(k.retries));
      setText(c[5], fmt(k.dead_letters));
      setText(c[6], fmt(k.paused_partitions));
      setText(c[7], k.last_error || '');
      c[5].classList.toggle('warn', k.dead_letters > 0);
      c[6].classList.toggle('warn', k.paused_partitions > 0);
    });
  }

  /* Updates the status panel in place: rows are rebuilt only when the set of tasks or partitions changes. */
  function renderStatus(s) {
    setGroupState(s.state || '');
    setText($('st-state'), (s.state || '–') + (s.error ? ': ' + s.error : ''));
    setText($('st-plan'), s.plan_version != null ? 'v' + s.plan_version : '–');
    const totals = s.totals || {};
    const tasks = (s.tasks || []).slice().sort((a, b) => a.task - b.task);
    const rate = tasks.reduce((sum, t) => sum + (t.messages_per_s || 0), 0);
    setText($('st-messages'), fmt(totals.messages ?? tasks.reduce((x, t) => x + (t.messages || 0), 0)));
    setText($('st-rate'), fmt(rate));
    setText($('st-lag'), fmt(totals.lag));
    setText($('st-lagstate'), s.lag_state ? s.lag_state.replace('_', ' ') : '–');
    $('st-lagstate').className = 'lag-' + (s.lag_state || 'none');
    $('status').dataset.polls = String(++pollCount);
    /* Keep the group's row in the list truthful too, in place. */
    const row = document.querySelector('#group-list button[data-name="' + CSS.escape(s.group || pollGroup || '') + '"] .sub');
    if (row && s.state) setText(row, row.textContent.replace(/( · [a-z]+)?$/, ' · ' + s.state));
    $('status').dataset.messages = String(totals.messages ?? 0);

    const box = $('st-tasks');
    if (bars.length !== tasks.length || bars.some((b, i) => b.task !== tasks[i].task)) {
      box.innerHTML = tasks.map((t) =>
        '<div class="bar" data-task="' + t.task + '"><span>' + t.task + '</span><span class="track"><span class="fill"></span></span><span class="v"></span></div>').join('');
      bars = tasks.map((t, i) => {
        const row = box.children[i];
        return { task: t.task, row, fill: row.children[1].firstChild, v: row.children[2] };
      });
    }
    const max = Math.max(1, ...tasks.map((t) => t.messages_per_s || 0));
    tasks.forEach((t, i) => {
      const b = bars[i];
      const w = (100 * (t.messages_per_s || 0) / max).toFixed(1) + '%';
      if (b.fill.style.width !== w) b.fill.style.width = w;
      setText(b.v, fmt(t.messages_per_s || 0));
      b.row.classList.toggle('idle', t.state === 'idle' || t.partitions === 0);
      const title = 'task ' + t.task + ': ' + (t.state || '') + ', ' + (t.partitions ?? 0) + ' partitions, ' + fmt(t.messages) + ' messages';
      if (b.row.title !== title) b.row.title = title;
    });

    renderSink(tasks);

    const parts = (s.partitions || []).slice().sort((a, b) =>
      a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition);
    const body = $('st-parts').tBodies[0];
    const same = parts.length === lagRows.size && parts.every((p) => lagRows.has(pkey(p)));
    if (!same) {
      body.innerHTML = parts.map((p) => '<tr data-key="' + esc(pkey(p)) + '"><td>' + esc(p.cluster + '/' + p.topic) + ' [' + esc(p.partition) +
        ']</td><td></td><td class="num"></td><td class="num"></td><td class="num"></td><td class="num"></td></tr>').join('');
      lagRows = new Map();
      parts.forEach((p, i) => {
        const c = body.rows[i].cells;
        lagRows.set(pkey(p), { row: body.rows[i], task: c[1], pos: c[2], com: c[3], hw: c[4], lag: c[5] });
      });
    }
    for (const p of parts) {
      const r = lagRows.get(pkey(p));
      setText(r.task, p.task != null ? String(p.task) : '–');
      setText(r.pos, fmt(p.position));
      setText(r.com, fmt(p.committed));
      setText(r.hw, fmt(p.high_watermark));
      setText(r.lag, fmt(p.lag));
      const title = p.error ? 'not read: ' + p.error : p.lag_state ? 'lag state: ' + p.lag_state : '';
      if (r.row.title !== title) r.row.title = title;
      r.row.classList.toggle('stalled', p.lag_state === 'stalled');
      r.row.classList.toggle('behind', p.lag_state === 'falling_behind');
    }
    /* A cluster in error (down, or commits failing) is named with its reason and since when. */
    const bad = (s.clusters || []).filter((c) => c.state === 'error');
    const cl = $('st-clusters');
    const html = bad.map((c) => '<li data-cluster="' + esc(c.cluster) + '"><strong>' + esc(c.cluster) + '</strong>: ' + esc(c.last_error || 'error') +
      (c.last_error_at ? ' <span class="muted">(since ' + esc(c.last_error_at) + ')</span>' : '') + '</li>').join('');
    if (cl.innerHTML !== html) cl.innerHTML = html;
    cl.hidden = !bad.length;
  }

  /* ---------- overview: every group and cluster, live ---------- */

  const OV_POLL_MS = 2500;
  const OV_ROW_H = 33;        /* px: fixed, so the window of drawn rows is plain arithmetic */
  const OV_OVERSCAN = 8;      /* rows drawn above and below the visible ones */
  const OV_SPARK = 48;        /* lag samples kept per group: two minutes at OV_POLL_MS */
  const STATE_ORDER = { failed: 0, starting: 1, stopping: 2, running: 3, stopped: 4 };
  const LAG_ORDER = { ERR: 0, STALL: 1, WARN: 2, UNKNOWN: 3, OK: 4, STOP: 5 };
  const num = (v) => (typeof v === 'number' && isFinite(v) ? v : -Infinity);
  const secs = (v) => (typeof v !== 'number' ? '–' : v < 1 ? '0 s' : v < 90 ? Math.round(v) + ' s' : v < 5400 ? Math.round(v / 60) + ' min' : (v / 3600).toFixed(1) + ' h');
  const OV_COLS = [
    { key: 'name', label: 'Group', sort: (g) => g.name },
    { key: 'state', label: 'State', sort: (g) => STATE_ORDER[g.state] ?? 9 },
    { key: 'parallelism', label: 'Parallelism', num: true, sort: (g) => num(g.parallelism) },
    { key: 'strategy', label: 'Strategy', sort: (g) => g.strategy || '' },
    { key: 'tasks', label: 'Tasks run / idle', num: true, sort: (g) => g.tasks_running * 1e6 - num(g.tasks_idle) },
    { key: 'partitions', label: 'Partitions', num: true, sort: (g) => g.partitions },
    { key: 'skew', label: 'Skew', num: true, sort: (g) => num(g.skew) },
    { key: 'lag', label: 'Lag', num: true, sort: (g) => num(g.lag) },
    { key: 'lag_age', label: 'Lag age', num: true, sort: (g) => num(g.lag_seconds) },
    { key: 'drain', label: 'Drain', num: true, sort: (g) => num(g.drain_seconds) },
    { key: 'lag_state', label: 'Lag state', sort: (g) => LAG_ORDER[g.lag_state] ?? 9 },
    { key: 'rate', label: 'Msg/s', num: true, sort: (g) => g.messages_per_s },
    { key: 'sink', label: 'Sink', sort: (g) => g.sink.type + '/' + g.sink.delivery },
    { key: 'flink_idle', label: 'Flink idle', num: true, sort: (g) => num(g.flink && g.flink.idle_tasks) },
    { key: 'flink_even', label: 'Flink even at', num: true, sort: (g) => num(g.flink && g.flink.nearest_even_parallelism) },
  ];
  const ov = {
    data: null, rows: [], sortKey: 'lag', sortDir: -1, filter: '', timer: null, busy: false,
    pool: [], top: null, bottom: null, hist: new Map(), refreshes: 0, drawn: false, raf: 0,
  };

  function ovInit() {
    $('ov-head').innerHTML = OV_COLS.map((c) =>
      '<th scope="col" data-key="' + c.key + '"' + (c.num ? ' class="num"' : '') + ' aria-sort="none">' +
      '<button type="button" class="sort" data-key="' + c.key + '" data-testid="ov-sort-' + c.key + '">' + esc(c.label) +
      '<span class="arrow" aria-hidden="true"></span></button></th>').join('');
    $('ov-head').addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-key]');
      if (!b) return;
      const k = b.dataset.key;
      /* first click: figures biggest first, names A to Z; again: the other way */
      if (ov.sortKey === k) ov.sortDir = -ov.sortDir;
      else { ov.sortKey = k; ov.sortDir = OV_COLS.find((c) => c.key === k).num ? -1 : 1; } /* states order worst first */
      ovRender();
    });
    $('ov-filter').addEventListener('input', () => { ov.filter = $('ov-filter').value.trim().toLowerCase(); $('ov-scroll').scrollTop = 0; ovRender(); });
    $('ov-scroll').addEventListener('scroll', () => {
      if (!ov.raf) ov.raf = requestAnimationFrame(() => { ov.raf = 0; ovDrawWindow(); });
    }, { passive: true });
    window.addEventListener('resize', () => { if (currentView === 'overview') ovDrawWindow(); });
    $('ov-body').addEventListener('click', (ev) => {
      if (ev.target.closest('a')) return; /* the link navigates by itself */
      const tr = ev.target.closest('tr[data-name]');
      if (tr) location.hash = '#/groups/' + enc(tr.dataset.name);
    });
    const top = document.createElement('tr'), bottom = document.createElement('tr');
    for (const sp of [top, bottom]) {
      sp.className = 'ov-spacer';
      sp.setAttribute('aria-hidden', 'true');
      sp.innerHTML = '<td colspan="' + OV_COLS.length + '"></td>';
    }
    ov.top = top; ov.bottom = bottom;
    $('ov-body').append(top, bottom);
  }

  function openOverview() {
    if (!ov.timer) ov.timer = setInterval(ovPoll, OV_POLL_MS);
    ovPoll();
  }

  function stopOverview() {
    if (ov.timer) clearInterval(ov.timer);
    ov.timer = null;
  }

  async function ovPoll() {
    if (ov.busy || document.hidden) return;
    ov.busy = true;
    const t0 = performance.now();
    try {
      const o = await api('GET', '/overview');
      if (currentView !== 'overview') return;
      ov.data = o;
      for (const g of o.groups) {
        let h = ov.hist.get(g.name);
        if (!h) ov.hist.set(g.name, h = []);
        h.push(typeof g.lag === 'number' ? g.lag : null);
        if (h.length > OV_SPARK) h.shift();
      }
      if (ov.hist.size > o.groups.length * 2) {
        const live = new Set(o.groups.map((g) => g.name));
        for (const k of ov.hist.keys()) if (!live.has(k)) ov.hist.delete(k);
      }
      showProblem($('ov-error'), null);
      ovRender();
      ovClusters(o.clusters || []);
      ovInstances(o.instances);
      ovHeadline(o.totals || {});
      const view = $('view-overview');
      view.dataset.refreshMs = (performance.now() - t0).toFixed(1);
      view.dataset.refreshes = String(++ov.refreshes);
      if (!ov.drawn) { ov.drawn = true; view.dataset.firstDrawMs = performance.now().toFixed(1); }
    } catch (e) {
      showProblem($('ov-error'), e);
    } finally { ov.busy = false; }
  }

  function ovHeadline(t) {
    setText($('ov-running'), fmt(t.groups_running) + (typeof t.groups === 'number' ? ' of ' + fmt(t.groups) : ''));
    setText($('ov-failed'), fmt(t.groups_failed));
    $('ov-failed').classList.toggle('bad', t.groups_failed > 0);
    setText($('ov-lag'), fmt(t.lag));
    setText($('ov-rate'), fmt(Math.round(t.messages_per_s || 0)));
  }

  /* Filters and sorts the groups, then draws the window of rows in view. */
  function ovRender() {
    if (!ov.data) return;
    const col = OV_COLS.find((c) => c.key === ov.sortKey) || OV_COLS[0];
    const f = ov.filter;
    const rows = f ? ov.data.groups.filter((g) => g.name.toLowerCase().includes(f)) : ov.data.groups.slice();
    const dir = ov.sortDir;
    rows.sort((a, b) => {
      const x = col.sort(a), y = col.sort(b);
      const c = x < y ? -1 : x > y ? 1 : 0;
      return c ? c * dir : a.name < b.name ? -1 : a.name > b.name ? 1 : 0; /* ties: by name, stable across refreshes */
    });
    ov.rows = rows;
    for (const th of $('ov-head').children) {
      const s = th.dataset.key === ov.sortKey ? (dir > 0 ? 'ascending' : 'descending') : 'none';
      if (th.getAttribute('aria-sort') !== s) th.setAttribute('aria-sort', s);
    }
    setText($('ov-count'), f ? rows.length + ' of ' + ov.data.groups.length : String(rows.length));
    const table = $('ov-table');
    table.setAttribute('aria-rowcount', String(rows.length + 1));
    table.dataset.count = String(rows.length);
    ovDrawWindow();
  }

  /* Only the rows in view (and a few around) exist; spacer rows stand for the rest, so
     1,000 groups cost the same as 30. Rows are reused and updated cell by cell. */
  function ovDrawWindow() {
    const box = $('ov-scroll'), body = $('ov-body');
    const n = ov.rows.length;
    const first = Math.max(0, Math.floor(box.scrollTop / OV_ROW_H) - OV_OVERSCAN);
    const count = Math.min(n - first, Math.ceil((box.clientHeight || 600) / OV_ROW_H) + 2 * OV_OVERSCAN);
    while (ov.pool.length < count) {
      const tr = document.createElement('tr');
      tr.innerHTML = '<td class="name"><a></a></td><td><span class="state"></span></td><td class="num"></td><td></td>' +
        '<td class="num"></td><td class="num"></td><td class="num"></td><td class="num lagcell"><svg class="spark" viewBox="0 0 48 14" aria-hidden="true" focusable="false"><polyline points=""/></svg><span></span></td>' +
        '<td class="num"></td><td class="num"></td><td><span class="ls" tabindex="0"></span></td><td class="num"></td><td></td><td class="num"></td><td class="num"></td>';
      ov.pool.push(tr);
    }
    const want = ov.pool.slice(0, Math.max(0, count));
    /* keep the DOM order: top spacer, rows, bottom spacer; touch it only when it changes */
    let cur = ov.top.nextSibling, ok = true;
    for (const tr of want) { if (cur !== tr) { ok = false; break; } cur = cur.nextSibling; }
    if (!ok || cur !== ov.bottom) {
      for (const tr of ov.pool) if (tr.parentNode && !want.includes(tr)) tr.remove();
      let after = ov.top;
      for (const tr of want) { if (after.nextSibling !== tr) after.after(tr); after = tr; }
    }
    const topH = first * OV_ROW_H + 'px', botH = Math.max(0, n - first - count) * OV_ROW_H + 'px';
    if (ov.top.firstChild.style.height !== topH) ov.top.firstChild.style.height = topH;
    if (ov.bottom.firstChild.style.height !== botH) ov.bottom.firstChild.style.height = botH;
    ov.top.hidden = first === 0;
    ov.bottom.hidden = first + count >= n;
    for (let i = 0; i < want.length; i++) ovFillRow(want[i], ov.rows[first + i], first + i);
    body.dataset.first = String(first);
    body.dataset.drawn = String(want.length);
    /* the box grows with its first rows (up to its max-height): fill what it shows now */
    if (first + count < n && box.clientHeight > (count - 2 * OV_OVERSCAN) * OV_ROW_H) ovDrawWindow();
  }

  function ovFillRow(tr, g, index) {
    const c = tr.cells;
    if (tr.dataset.name !== g.name) {
      tr.dataset.name = g.name;
      c[0].firstChild.href = '#/groups/' + enc(g.name);
    }
    tr.setAttribute('aria-rowindex', String(index + 2));
    setText(c[0].firstChild, g.name);
    const st = c[1].firstChild;
    setText(st, g.state);
    if (st.className !== 'state ' + g.state) st.className = 'state ' + g.state;
    if (g.error) { if (st.title !== g.error) st.title = g.error; } else if (st.title) st.title = '';
    setText(c[2], g.parallelism != null ? String(g.parallelism) : '–');
    setText(c[3], g.strategy || '–');
    setText(c[4], g.tasks_running + ' / ' + (g.tasks_idle ?? '–'));
    setText(c[5], fmt(g.partitions));
    setText(c[6], typeof g.skew === 'number' ? g.skew.toFixed(2) : '–');
    setText(c[7].lastChild, fmt(g.lag));
    const pts = sparkPoints(ov.hist.get(g.name) || []);
    const pl = c[7].firstChild.firstChild;
    if (pl.getAttribute('points') !== pts) pl.setAttribute('points', pts);
    setText(c[8], secs(g.lag_seconds));
    setText(c[9], secs(g.drain_seconds));
    const ls = c[10].firstChild;
    setText(ls, g.lag_state);
    if (ls.className !== 'ls ls-' + g.lag_state) ls.className = 'ls ls-' + g.lag_state;
    if (ls.title !== g.lag_rule) { ls.title = g.lag_rule; ls.setAttribute('aria-label', g.lag_state + ': ' + g.lag_rule); }
    setText(c[11], fmt(Math.round(g.messages_per_s * 10) / 10));
    setText(c[12], g.sink.type + (g.sink.delivery === 'none' ? '' : ' · ' + g.sink.delivery.replace(/_/g, ' ')));
    const fl = g.flink;
    setText(c[13], fl ? String(fl.idle_tasks) : '–');
    c[13].classList.toggle('warn', !!(fl && fl.idle_tasks > 0));
    setText(c[14], !fl ? '–' : fl.even ? 'even' : fl.nearest_even_parallelism != null ? String(fl.nearest_even_parallelism) : 'none near');
    const tip = !fl ? '' : fl.even ? 'Flink places these partitions evenly at ' + g.parallelism
      : 'Flink is uneven at ' + g.parallelism + (fl.even_below ? '; even at ' + fl.even_below + ' below' : '') + (fl.even_above ? '; even at ' + fl.even_above + ' above' : '');
    if (c[14].title !== tip) c[14].title = tip;
  }

  /* The lag of the last samples as a 48 x 14 polyline, scaled to its own maximum. */
  function sparkPoints(h) {
    const vals = h.filter((v) => v !== null);
    if (vals.length < 2) return '';
    const max = Math.max(1, ...vals);
    const step = 48 / (OV_SPARK - 1), off = OV_SPARK - h.length;
    let out = '';
    h.forEach((v, i) => { if (v !== null) out += ((off + i) * step).toFixed(1) + ',' + (13 - 12 * v / max).toFixed(1) + ' '; });
    return out.trim();
  }

  function ovClusters(cs) {
    const body = $('ov-clusters').tBodies[0];
    const reach = (c) => c.reachable === true ? '<span class="ok-msg">reachable</span>'
      : c.reachable === false ? '<span class="bad">unreachable</span>' + (c.last_error ? ' <span class="muted">' + esc(c.last_error) + (c.last_error_at ? ' (since ' + esc(c.last_error_at) + ')' : '') + '</span>' : '')
        : '<span class="muted" title="no running group reads it; the overview never asks a cluster">unknown</span>';
    const html = cs.length ? cs.map((c) =>
      '<tr data-testid="ov-cluster-row" data-name="' + esc(c.name) + '"><th scope="row"><a href="#/clusters/' + esc(enc(c.name)) + '">' + esc(c.name) + '</a>' +
      (c.embedded ? ' <span class="hint">embedded</span>' : '') + '</th><td>' + reach(c) + '</td><td class="num">' + fmt(c.brokers ?? NaN) +
      '</td><td class="num">' + fmt(c.topics) + '</td><td class="num">' + fmt(c.partitions) + '</td><td>' +
      (c.groups.length > 6 ? esc(c.groups.slice(0, 6).join(', ')) + ' <span class="muted">+' + (c.groups.length - 6) + ' more</span>' : esc(c.groups.join(', '))) +
      '</td></tr>').join('') : '<tr><td colspan="6" class="muted">No clusters yet: add one under Clusters.</td></tr>';
    if (body.dataset.html !== html) { body.innerHTML = html; body.dataset.html = html; }
  }

  /* Which tasks an instance runs, by group ("orders 0, 3, 6"), under its count. */
  function instTasks(tasks) {
    const by = new Map();
    for (const t of tasks || []) by.set(t.group, (by.get(t.group) || []).concat(t.task));
    return by.size ? '<div class="hint">' + [...by].map(([g, ts]) => esc(g) + ' ' + ts.sort((a, b) => a - b).join(', ')).join('; ') + '</div>' : '';
  }

  /* The service's instances (issue 15): one process lists itself as the leader. */
  function ovInstances(inst) {
    const body = $('ov-instances').tBodies[0];
    const items = inst ? inst.items || [] : [];
    const mode = !inst ? 'The instances cannot be listed now.'
      : inst.protocol ? items.length + ' instance' + (items.length === 1 ? '' : 's') + ' in one service; membership by Kafka\'s ' +
        inst.protocol + ' group protocol (session ' + secs((inst.session_timeout_ms || 0) / 1000) + ')' + (inst.group_state ? ', group ' + inst.group_state : '') + '.'
        : 'One process (no KPLANE_COORDINATION): it is the whole service.';
    setText($('ov-instances-mode'), mode);
    const html = items.length ? items.map((it) =>
      '<tr data-testid="ov-instance-row" data-id="' + esc(it.id) + '"><th scope="row">' + esc(it.id) +
      (inst.leader === it.id ? ' <span class="hint" data-testid="ov-instance-leader">leader</span>' : '') + '</th><td>' +
      (it.url ? esc(it.url) : '<span class="muted">–</span>') + '</td><td>' + esc(it.state) + '</td><td class="num" data-testid="ov-instance-tasks">' + fmt((it.tasks || []).length) +
      instTasks(it.tasks) + '</td><td>' + esc(it.joined_at || '–') + '</td><td>' + esc(it.last_seen || '–') + '</td></tr>').join('')
      : '<tr><td colspan="6" class="muted">No instance listed.</td></tr>';
    if (body.dataset.html !== html) { body.innerHTML = html; body.dataset.html = html; }
  }

  /* ---------- what-if ---------- */

  const wi = { topics: [], inFlight: false, sentKey: '', shownKey: '', timer: 0, sweepKey: '', sweep: null, init: false };

  function parseWhatifTopics() {
    const topics = [], errors = [];
    $('wi-topics').value.split('\n').forEach((line, i) => {
      const l = line.trim();
      if (!l || l.startsWith('#')) return;
      const m = /^([^/\s]+)\/(\S+):(\d+)$/.exec(l);
      if (!m) errors.push({ field: 'topics', message: 'line ' + (i + 1) + ': expected cluster/topic:partitions' });
      else topics.push({ cluster: m[1], topic: m[2], partitions: Number(m[3]) });
    });
    if (errors.length) throw localError('some topic lines are not cluster/topic:partitions', errors);
    return topics;
  }

  async function openWhatif() {
    fillStrategySelect($('wi-strategy'), null);
    if (!wi.init) {
      wi.init = true;
      if (!$('wi-strategy').dataset.set) { $('wi-strategy').value = 'flink'; $('wi-strategy').dataset.set = '1'; }
    }
    try {
      const gs = (await api('GET', '/groups')).items || [];
      const sel = $('wi-group'), keep = sel.value;
      sel.innerHTML = '<option value="">registered topics</option>' + gs.map((g) => '<option>' + esc(g.name) + '</option>').join('');
      sel.value = gs.some((g) => g.name === keep) ? keep : '';
    } catch { /* the topics box still works without the group list */ }
    if (!$('wi-topics').value.trim()) await loadWhatifTopics();
    else whatifChanged(true);
  }

  async function loadWhatifTopics() {
    const g = $('wi-group').value;
    let lines = [];
    try {
      const reg = await loadRegistry();
      if (!g) lines = reg.topics.map((t) => t.cluster + '/' + t.name + ':' + t.partitions);
      else {
        const grp = await api('GET', '/groups/' + enc(g));
        const counts = new Map();
        for (const t of grp.topics || []) {
          if (t.topic) {
            const r = reg.topics.find((x) => x.cluster === t.cluster && x.name === t.topic);
            if (r) counts.set(t.cluster + '/' + t.topic, r.partitions);
          } else if (t.pattern !== undefined) {
            let re = null;
            try { re = new RegExp(t.pattern); } catch { re = null; }
            for (const r of reg.topics) if (re && r.cluster === t.cluster && re.test(r.name)) counts.set(r.cluster + '/' + r.name, r.partitions);
          }
        }
        lines = [...counts].map(([k, n]) => k + ':' + n);
        if (grp.parallelism) setParallelism(grp.parallelism);
        if (grp.strategy) $('wi-strategy').value = grp.strategy;
      }
      showProblem($('wi-error'), null);
    } catch (e) { showProblem($('wi-error'), e); }
    $('wi-topics').value = lines.join('\n');
    whatifChanged(true);
  }

  function setParallelism(n) {
    $('wi-value').value = String(n);
    $('wi-slider').value = String(Math.min(Number($('wi-slider').max), Math.max(1, n)));
  }

  function whatifState() {
    const topics = parseWhatifTopics();
    const p = $('wi-value').value.trim();
    const parallelism = /^\d+$/.test(p) ? Number(p) : p; /* let the server judge anything odd */
    return { topics, parallelism, strategy: $('wi-strategy').value };
  }

  /* Called on every slider step: at most one plan request in flight; when it returns, the newest
     state (if it changed meanwhile) is sent next, so fast sliding never queues stale requests. */
  function whatifChanged(now) {
    clearTimeout(wi.timer);
    wi.timer = setTimeout(whatifSend, now ? 0 : 40);
  }

  async function whatifSend() {
    let st;
    try { st = whatifState(); } catch (e) { showProblem($('wi-error'), e); return; }
    const key = JSON.stringify(st);
    if (wi.inFlight || key === wi.shownKey) return;
    wi.inFlight = true;
    wi.sentKey = key;
    $('wi-busy').textContent = 'planning…';
    const started = performance.now();
    try {
      const plan = await api('POST', '/plan', st);
      showProblem($('wi-error'), null);
      wi.shownKey = key;
      renderPlan($('wi-plan'), plan, null, 'wi');
      const grid = $('wi-plan').querySelector('.grid');
      grid.dataset.parallelism = String(st.parallelism);
      grid.dataset.strategy = st.strategy;
      grid.dataset.totalMs = (performance.now() - started).toFixed(1);
      moveChartMarker(st.parallelism);
    } catch (e) {
      wi.shownKey = '';
      showProblem($('wi-error'), e);
    } finally {
      wi.inFlight = false;
      $('wi-busy').textContent = '';
    }
    let next = '';
    try { next = JSON.stringify(whatifState()); } catch { next = ''; }
    if (next && next !== key) whatifSend();
    sweepIfNeeded(st.topics);
  }

  async function sweepIfNeeded(topics) {
    const total = topics.reduce((s, t) => s + t.partitions, 0);
    if (!total) { $('wi-chart').innerHTML = ''; wi.sweepKey = ''; return; }
    const to = Math.min(256, Math.max(16, 2 * total));
    const key = JSON.stringify([topics, to]);
    if (key === wi.sweepKey) return;
    wi.sweepKey = key;
    try {
      const r = await api('POST', '/plan/sweep', { topics, parallelism: { from: 1, to }, strategies: ['flink', 'balanced'] });
      if (wi.sweepKey !== key) return;
      wi.sweep = { items: r.items || [], to, total };
      drawCharts();
    } catch (e) {
      wi.sweepKey = '';
      $('wi-chart').innerHTML = '<div class="problem" role="alert"></div>';
      showProblem($('wi-chart').firstChild, e);
    }
  }

  const CH = { w: 460, h: 230, l: 44, r: 12, t: 14, b: 34 };

  function niceStep(max) {
    const raw = max / 5, p = Math.pow(10, Math.floor(Math.log10(raw || 1)));
    return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) || p * 10;
  }

  function chartSVG(metric, title, sw) {
    const series = { flink: [], balanced: [] };
    for (const it of sw.items) if (series[it.strategy] && it.analysis) series[it.strategy].push([it.parallelism, it.analysis[metric]]);
    for (const k in series) series[k].sort((a, b) => a[0] - b[0]);
    const all = [...series.flink, ...series.balanced].map((p) => p[1]);
    const ymax = Math.max(1, ...all);
    const step = niceStep(ymax), ytop = Math.ceil(ymax / step) * step;
    const iw = CH.w - CH.l - CH.r, ih = CH.h - CH.t - CH.b;
    const x = (v) => CH.l + (iw * (v - 1)) / Math.max(1, sw.to - 1);
    const y = (v) => CH.t + ih - (ih * v) / ytop;
    let g = '';
    for (let v = 0; v <= ytop; v += step) {
      g += '<line class="chart-grid" x1="' + CH.l + '" x2="' + (CH.w - CH.r) + '" y1="' + y(v) + '" y2="' + y(v) + '"/>' +
        '<text class="chart-text" x="' + (CH.l - 6) + '" y="' + (y(v) + 4) + '" text-anchor="end">' + v + '</text>';
    }
    const xs = niceStep(sw.to);
    for (let v = xs; v <= sw.to; v += xs) {
      g += '<text class="chart-text" x="' + x(v) + '" y="' + (CH.h - CH.b + 16) + '" text-anchor="middle">' + v + '</text>';
    }
    const path = (pts) => pts.map((p, i) => (i ? 'L' : 'M') + x(p[0]).toFixed(1) + ' ' + y(p[1]).toFixed(1)).join('');
    const px = x(sw.total);
    return '<figure><figcaption>' + esc(title) + '</figcaption>' +
      '<svg viewBox="0 0 ' + CH.w + ' ' + CH.h + '" role="img" aria-label="' + esc(title) + ' against parallelism, flink and balanced" data-testid="chart-' + metric + '">' +
      g +
      '<line class="chart-axis" x1="' + CH.l + '" x2="' + CH.l + '" y1="' + CH.t + '" y2="' + (CH.t + ih) + '"/>' +
      '<line class="chart-axis" x1="' + CH.l + '" x2="' + (CH.w - CH.r) + '" y1="' + (CH.t + ih) + '" y2="' + (CH.t + ih) + '"/>' +
      '<text class="chart-text" x="' + (CH.l + iw / 2) + '" y="' + (CH.h - 4) + '" text-anchor="middle">parallelism (tasks)</text>' +
      '<line class="chart-grid" stroke-dasharray="2 4" x1="' + px + '" x2="' + px + '" y1="' + CH.t + '" y2="' + (CH.t + ih) + '" style="stroke:#999"/>' +
      '<text class="chart-text" x="' + (px + 3) + '" y="' + (CH.t + 10) + '">P=' + sw.total + '</text>' +
      '<path class="chart-balanced" data-testid="line-balanced-' + metric + '" d="' + path(series.balanced) + '"/>' +
      '<path class="chart-flink" data-testid="line-flink-' + metric + '" d="' + path(series.flink) + '"/>' +
      '<line class="chart-now" data-x="now" x1="0" x2="0" y1="' + CH.t + '" y2="' + (CH.t + ih) + '" visibility="hidden"/>' +
      '<g transform="translate(' + (CH.l + 8) + ',' + (CH.t + 4) + ')">' +
      '<rect width="96" height="34" fill="#fff" opacity=".85"/>' +
      '<line class="chart-flink" x1="4" x2="22" y1="10" y2="10"/><text class="chart-text" x="26" y="14">flink</text>' +
      '<line class="chart-balanced" x1="4" x2="22" y1="26" y2="26"/><text class="chart-text" x="26" y="30">balanced</text></g>' +
      '</svg></figure>';
  }

  function drawCharts() {
    const sw = wi.sweep;
    if (!sw) return;
    $('wi-chart').innerHTML =
      chartSVG('max_partitions_per_task', 'Busiest task: partitions', sw) +
      chartSVG('idle_tasks', 'Idle tasks', sw);
    let p = Number($('wi-value').value);
    moveChartMarker(p);
  }

  /* The marker for the current parallelism moves in place; the curves are not redrawn. */
  function moveChartMarker(p) {
    const sw = wi.sweep;
    if (!sw) return;
    const iw = CH.w - CH.l - CH.r;
    const inside = typeof p === 'number' && p >= 1 && p <= sw.to;
    const xv = inside ? (CH.l + (iw * (p - 1)) / Math.max(1, sw.to - 1)).toFixed(1) : '0';
    document.querySelectorAll('#wi-chart line[data-x="now"]').forEach((l) => {
      l.setAttribute('x1', xv); l.setAttribute('x2', xv);
      l.setAttribute('visibility', inside ? 'visible' : 'hidden');
    });
  }

  function initWhatif() {
    fillStrategySelect($('wi-strategy'), 'flink');
    $('wi-strategy').dataset.set = '1';
    $('wi-slider').addEventListener('input', () => { $('wi-value').value = $('wi-slider').value; whatifChanged(false); });
    $('wi-value').addEventListener('input', () => {
      const n = Number($('wi-value').value);
      if (Number.isInteger(n) && n >= 1) $('wi-slider').value = String(Math.min(n, Number($('wi-slider').max)));
      whatifChanged(false);
    });
    $('wi-strategy').addEventListener('change', () => whatifChanged(true));
    $('wi-topics').addEventListener('change', () => whatifChanged(true));
    $('wi-reload').addEventListener('click', () => loadWhatifTopics());
    $('wi-group').addEventListener('change', () => loadWhatifTopics());
  }

  /* ---------- start ---------- */

  function init() {
    $('token-btn').addEventListener('click', () => {
      tokenDeclined = false;
      const before = token();
      askToken(before).then((ok) => { if (ok) route(); });
    });
    initClusters();
    initGroups();
    initWhatif();
    ovInit();
    window.addEventListener('hashchange', route);
    /* A hidden tab does not need fresh numbers; catch up as soon as it is visible again. */
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && pollGroup) pollNow();
      if (!document.hidden && currentView === 'overview') ovPoll();
    });
    if (!location.hash) history.replaceState(null, '', '#/overview');
    route();
  }

  init();
})();
