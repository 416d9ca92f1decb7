// SPDX-License-Identifier: MIT
// hb dashboard: one page application over /ui/api/ (no framework, no CDN).
'use strict';

const $ = (sel, el = document) => el.querySelector(sel);
const main = () => $('#main');
let me = null;          // /ui/api/me
let stream = null;      // EventSource
let onChanges = null;   // the page's live handler: (changes) => void
let onReset = null;     // the page's reload on a stream reset
window.hbCharts = [];   // drawn charts, for tests: {id, points}

function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c]));
}
function h(html) { const t = document.createElement('template'); t.innerHTML = html.trim(); return t.content.firstChild; }
function ago(ms) {
  if (!ms) return '';
  let s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm';
  if (s < 86400) return Math.floor(s / 3600) + 'h' + String(Math.floor(s % 3600 / 60)).padStart(2, '0');
  return Math.floor(s / 86400) + 'd';
}
function badge(st) { return `<span class="st ${esc(st)}">${esc(st)}</span>`; }
function fmtMs(v) { return v == null ? '' : v.toFixed(v < 10 ? 2 : 1); }

async function api(path, opts = {}) {
  const o = {credentials: 'same-origin', headers: {}, ...opts};
  if (o.body !== undefined) { o.headers['Content-Type'] = 'application/json'; o.body = JSON.stringify(o.body); }
  if (o.method && o.method !== 'GET' && me && me.csrf) o.headers['X-CSRF-Token'] = me.csrf;
  const r = await fetch(path, o);
  if (r.status === 401 && !path.endsWith('/login')) { toLogin(); throw new Error('log in first'); }
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(j.error || r.statusText);
  return j;
}

function toLogin() {
  const next = location.pathname + location.search;
  location.href = '/ui/login?next=' + encodeURIComponent(next);
}

// ---- routing ----
function nav(url) { history.pushState(null, '', url); route(); }
document.addEventListener('click', e => {
  const a = e.target.closest('a[data-nav], a[href^="/ui/"]');
  if (!a || e.defaultPrevented || e.ctrlKey || e.metaKey || e.shiftKey || a.target) return;
  const u = new URL(a.href, location.href);
  if (!u.pathname.startsWith('/ui/') || u.pathname.startsWith('/ui/static/') || u.pathname.startsWith('/ui/api/')) return;
  e.preventDefault(); nav(u.pathname + u.search + u.hash);
});
window.addEventListener('popstate', route);

async function boot() {
  if (location.pathname === '/ui/login') { renderLogin(); return; }
  try { me = await api('/ui/api/me'); } catch (e) { return; }
  $('#top').hidden = false;
  $('#who').textContent = me.open ? 'open dashboard (loopback)' : me.user + (me.admin ? ' (admin)' : '');
  $('#logout').hidden = me.open;
  $('#nav-settings').hidden = !me.admin;
  $('#logout').onclick = async () => { await api('/ui/api/logout', {method: 'POST', body: {}}).catch(() => {}); location.href = '/ui/login'; };
  startStream();
  route();
}

function route() {
  window.hbCharts = [];
  onChanges = null; onReset = null;
  const p = location.pathname;
  for (const a of document.querySelectorAll('header nav a')) a.classList.toggle('active', a.getAttribute('href') === p || (p === '/ui/host' && a.dataset.page === 'overview'));
  const q = new URLSearchParams(location.search);
  if (p === '/ui/host') return pageHost(q.get('name'));
  if (p === '/ui/alerts') return pageAlerts();
  if (p === '/ui/events') return pageEvents(q);
  if (p === '/ui/settings') return pageSettings();
  return pageOverview(q);
}

// ---- live stream (Server-Sent Events; the browser resumes with Last-Event-ID) ----
let streamSeq = '';
function startStream() {
  if (stream) stream.close();
  stream = new EventSource('/ui/api/stream' + (streamSeq ? '?since=' + encodeURIComponent(streamSeq) : ''));
  stream.onopen = () => $('#live').className = 'live on';
  stream.onerror = () => $('#live').className = 'live off';
  stream.onmessage = e => {
    $('#live').className = 'live on';
    streamSeq = e.lastEventId;
    const cs = JSON.parse(e.data);
    if (onChanges) onChanges(cs);
  };
  stream.addEventListener('reset', e => { streamSeq = e.lastEventId; if (onReset) onReset(); });
}
// A browser keeps at most six HTTP/1.1 connections per server: a hidden
// tab gives its stream back and resumes where it left off when shown.
document.addEventListener('visibilitychange', () => {
  if (!me) return;
  if (document.hidden) { if (stream) { stream.close(); stream = null; $('#live').className = 'live off'; } }
  else if (!stream) startStream();
});

// ---- login ----
function renderLogin() {
  $('#top').hidden = true;
  main().innerHTML = `<form class="login" id="login-form"><h1>hb</h1>
    <label for="user">User</label><input id="user" name="user" autocomplete="username" autofocus>
    <label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password">
    <p><button class="btn primary" type="submit" id="login-submit">Log in</button></p><p class="error" id="login-error"></p></form>`;
  $('#login-form').onsubmit = async e => {
    e.preventDefault();
    try {
      await api('/ui/api/login', {method: 'POST', body: {user: $('#user').value, password: $('#password').value}});
      let next = new URLSearchParams(location.search).get('next') || '/ui/';
      if (!next.startsWith('/ui/') || next.startsWith('/ui/login')) next = '/ui/';
      location.href = next;
    } catch (err) { $('#login-error').textContent = err.message; }
  };
}

// ---- fleet overview ----
const STATES = ['down', 'degraded', 'unknown', 'up'];
async function pageOverview(q) {
  const f = {state: q.get('state') || '', kind: q.get('kind') || '', label: q.get('label') || '', q: q.get('q') || '',
    offset: +(q.get('offset') || 0), limit: +(q.get('limit') || 100), sort: q.get('sort') || 'state'};
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v !== '' && v !== 0) params.set(k, v);
  const t0 = performance.now();
  let d;
  try { d = await api('/ui/api/hosts?' + params); } catch (e) { main().innerHTML = `<p class="error">${esc(e.message)}</p>`; return; }
  const counts = d.counts;
  main().innerHTML = `<h1>Fleet <span class="muted" id="total">${d.total.toLocaleString()} hosts</span></h1>
    <div class="counts" id="counts">${STATES.map(s => `<div class="count${f.state === s ? ' sel' : ''}" data-state="${s}"><span>${s}</span><b>${counts[s].toLocaleString()}</b></div>`).join('')}</div>
    <form class="filters" id="filters">
      <select name="state"><option value="">any state</option>${STATES.map(s => `<option${f.state === s ? ' selected' : ''}>${s}</option>`).join('')}</select>
      <select name="kind"><option value="">any kind</option>${['icmp', 'udp', 'tcp', 'http', 'heartbeat', 'pulse'].map(k => `<option${f.kind === k ? ' selected' : ''}>${k}</option>`).join('')}</select>
      <input name="label" placeholder="label key=value" value="${esc(f.label)}" size="18">
      <input name="q" placeholder="name contains" value="${esc(f.q)}" size="18" id="search">
      <select name="sort"><option value="state"${f.sort === 'state' ? ' selected' : ''}>problems first</option><option value="config"${f.sort !== 'state' ? ' selected' : ''}>config order</option></select>
      <button class="btn" type="submit">Filter</button>
      <span class="muted" id="matched">${d.matched.toLocaleString()} match</span>
    </form>
    <table id="hosts"><thead><tr><th>Host</th><th>Address</th><th>State</th><th>For</th><th class="num">RTT ms</th><th class="num">Loss</th><th>Checks</th><th>Last</th><th>Problem</th></tr></thead>
    <tbody>${d.hosts.map(rowHTML).join('')}</tbody></table>
    <div class="pager"><button class="btn" id="prev"${f.offset <= 0 ? ' disabled' : ''}>‹ Prev</button>
      <span>${d.matched ? (f.offset + 1).toLocaleString() : 0}–${Math.min(f.offset + d.limit, d.matched).toLocaleString()} of ${d.matched.toLocaleString()}</span>
      <button class="btn" id="next"${f.offset + d.limit >= d.matched ? ' disabled' : ''}>Next ›</button>
      <span class="muted" id="loadtime">${Math.round(performance.now() - t0)} ms</span></div>`;
  const go = patch => { const n = new URLSearchParams(params); for (const [k, v] of Object.entries(patch)) { if (v === '' || v == null) n.delete(k); else n.set(k, v); } nav('/ui/?' + n); };
  $('#filters').onsubmit = e => { e.preventDefault(); const fd = new FormData(e.target); go({state: fd.get('state'), kind: fd.get('kind'), label: fd.get('label'), q: fd.get('q'), sort: fd.get('sort'), offset: ''}); };
  for (const c of document.querySelectorAll('.count')) c.onclick = () => go({state: f.state === c.dataset.state ? '' : c.dataset.state, offset: ''});
  $('#prev').onclick = () => go({offset: Math.max(0, f.offset - d.limit) || ''});
  $('#next').onclick = () => go({offset: f.offset + d.limit});
  performance.mark('hb-overview');
  if (!streamSeq) { streamSeq = d.seq; startStream(); }
  onReset = () => route();
  // A host that turns bad off this page: refresh the first page of a
  // problems-first view (at most every 2 s), so new outages come to the top.
  let refreshTimer = null;
  const refreshRows = () => {
    refreshTimer = null;
    api('/ui/api/hosts?' + params).then(n => {
      if (onChanges !== live) return;
      $('#hosts tbody').innerHTML = n.hosts.map(rowHTML).join('');
      for (const s of STATES) $(`.count[data-state="${s}"] b`).textContent = n.counts[s].toLocaleString();
      $('#matched').textContent = n.matched.toLocaleString() + ' match';
    }).catch(() => {});
  };
  const live = cs => {
    if (f.offset === 0 && f.sort === 'state' && !refreshTimer &&
        cs.some(c => (c.host_state === 'down' || c.host_state === 'degraded') && c.host_old !== c.host_state && !document.querySelector(`#hosts tr[data-host="${CSS.escape(c.host)}"]`)))
      refreshTimer = setTimeout(refreshRows, 2000);
    for (const c of cs) {
      if (c.host_old !== c.host_state) {
        for (const [s, delta] of [[c.host_old, -1], [c.host_state, 1]]) {
          const b = $(`.count[data-state="${s}"] b`);
          if (b) b.textContent = (Math.max(0, parseInt(b.textContent.replace(/\D/g, ''), 10) + delta)).toLocaleString();
        }
      }
      const tr = document.querySelector(`#hosts tr[data-host="${CSS.escape(c.host)}"]`);
      if (tr) {
        tr.querySelector('td.state').innerHTML = badge(c.host_state);
        tr.querySelector('td.for').textContent = ago(c.at);
        tr.dataset.state = c.host_state;
        tr.classList.remove('flash'); void tr.offsetWidth; tr.classList.add('flash');
      }
    }
  };
  onChanges = live;
}
function rowHTML(r) {
  return `<tr data-host="${esc(r.name)}" data-state="${esc(r.state)}"><td><a href="/ui/host?name=${encodeURIComponent(r.name)}">${esc(r.name)}</a></td>
    <td>${esc(r.addr)}</td><td class="state">${badge(r.state)}</td><td class="for">${ago(r.since)}</td>
    <td class="num">${fmtMs(r.rtt_ms)}</td><td class="num">${r.loss ? Math.round(r.loss * 100) + '%' : ''}</td>
    <td>${esc((r.kinds || []).join(' '))}</td><td>${ago(r.last)}</td><td class="problem" title="${esc(r.problem)}">${esc(r.problem)}</td></tr>`;
}

// ---- host page ----
let hostRange = '1h';
async function pageHost(name) {
  let d;
  try { d = await api('/ui/api/host?name=' + encodeURIComponent(name)); } catch (e) { main().innerHTML = `<p class="error">${esc(e.message)}</p>`; return; }
  const hs = d.host;
  const labels = Object.entries(hs.labels || {}).map(([k, v]) => `${esc(k)}=${esc(v)}`).join(' ');
  main().innerHTML = `<h1><a href="/ui/" data-nav>Fleet</a> / <span id="hostname">${esc(hs.name)}</span> <span id="hoststate">${badge(hs.state)}</span></h1>
    <p class="muted">${esc(hs.addr)} · ${labels || 'no labels'} · in state for <span id="hostfor">${Math.round(hs.in_state_seconds)}s</span> · ${hs.transitions} transitions · your role: ${esc(d.role)}</p>
    <div class="pager">Range: ${['1h', '6h', '24h', '7d', '30d'].map(r => `<button class="btn${r === hostRange ? ' primary' : ''}" data-range="${r}">${r}</button>`).join('')}</div>
    <div class="grid2">
      <div class="card"><h2>RTT (ms)</h2><div class="chart" id="chart-rtt"></div></div>
      <div class="card"><h2>Loss (%)</h2><div class="chart" id="chart-loss"></div></div>
      <div class="card"><h2>Health</h2><div class="chart" id="chart-health"></div></div>
      <div class="card"><h2>Latest health</h2><div id="health"></div></div>
    </div>
    <h2>Checks</h2><table id="checks"><thead><tr><th>Check</th><th>Kind</th><th>Target</th><th>State</th><th class="num">RTT ms</th><th class="num">Loss</th><th>Problem</th></tr></thead><tbody>
    ${(hs.checks || []).map(c => `<tr data-check="${esc(c.name)}"><td>${esc(c.name)}</td><td>${esc(c.kind)}</td><td>${esc(c.target || c.addr || '')}</td><td class="state">${badge(c.state)}</td>
      <td class="num">${c.rtt && c.rtt.avg_seconds != null ? fmtMs(c.rtt.avg_seconds * 1000) : ''}</td><td class="num">${c.loss_ratio ? Math.round(c.loss_ratio * 100) + '%' : ''}</td><td class="problem">${esc(c.problem || '')}</td></tr>`).join('')}
    </tbody></table>
    <h2>Alerts</h2><div id="host-alerts"></div>
    <h2>State history</h2><table id="transitions"><thead><tr><th>At</th><th>From</th><th>To</th></tr></thead><tbody></tbody></table>
    <h2>Recent results</h2><table id="recent"><thead><tr><th>At</th><th>Outcome</th><th class="num">RTT ms</th><th>Method</th></tr></thead><tbody>
    ${(hs.recent || []).slice().reverse().map(r => `<tr><td>${new Date(r.at).toLocaleTimeString()}</td><td>${esc(r.outcome)}</td><td class="num">${r.rtt_seconds != null ? fmtMs(r.rtt_seconds * 1000) : ''}</td><td>${esc(r.method || '')}</td></tr>`).join('')}
    </tbody></table>`;
  renderHealth(hs.health);
  renderAlerts($('#host-alerts'), (d.alerts || []).map(a => ({alert: a, can_ack: d.can_ack})), false);
  for (const b of document.querySelectorAll('[data-range]')) b.onclick = () => { hostRange = b.dataset.range; pageHost(name); };
  await drawHistory(hs);
  performance.mark('hb-host');
  onReset = () => pageHost(name);
  onChanges = cs => {
    for (const c of cs) {
      if (c.host !== hs.name) continue;
      $('#hoststate').innerHTML = badge(c.host_state);
      $('#hostfor').textContent = '0s';
      const tr = document.querySelector(`#checks tr[data-check="${CSS.escape(c.check)}"] td.state`);
      if (tr) tr.innerHTML = badge(c.state);
    }
  };
}

function renderHealth(hl) {
  const el = $('#health');
  if (!hl) { el.innerHTML = '<p class="muted">No health blob received (the host runs no hb-responder, or probes in the clear without one).</p>'; return; }
  const rows = [];
  const walk = (o, pre) => { for (const [k, v] of Object.entries(o)) { if (v && typeof v === 'object' && !Array.isArray(v)) walk(v, pre + k + '.'); else rows.push([pre + k, Array.isArray(v) ? v.join(', ') : v]); } };
  walk(hl, '');
  el.innerHTML = `<table class="kv">${rows.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('')}</table>`;
}

async function drawHistory(hs) {
  let hist = null;
  try { hist = (await api(`/ui/api/history?name=${encodeURIComponent(hs.name)}&range=${hostRange}`)).history; } catch (e) { hist = null; }
  const rolls = hist ? hist.rollups : [];
  const tb = $('#transitions tbody');
  const trs = hist ? hist.state_changes.slice().reverse() : [];
  tb.innerHTML = trs.length ? trs.map(c => `<tr><td>${new Date(c.at).toLocaleString()}</td><td>${badge(c.from)}</td><td>${badge(c.to)}</td></tr>`).join('') : '<tr><td colspan="3" class="muted">No state changes in this range.</td></tr>';
  let x, rtt, rmin, rmax, loss, cpu, mem, disk;
  if (rolls.length) {
    x = rolls.map(r => Date.parse(r.minute) / 1000);
    const ms = v => v == null ? null : v * 1000;
    rtt = rolls.map(r => ms(r.rtt_avg_seconds)); rmin = rolls.map(r => ms(r.rtt_min_seconds)); rmax = rolls.map(r => ms(r.rtt_max_seconds));
    loss = rolls.map(r => r.probes ? 100 * r.losses / r.probes : null);
    const pc = v => v == null ? null : v * 100;
    cpu = rolls.map(r => pc(r.cpu_busy_ratio)); mem = rolls.map(r => pc(r.memory_used_ratio)); disk = rolls.map(r => pc(r.disk_used_ratio));
  } else {
    // No stored minutes yet (a new host, or no store): the live window.
    const rec = hs.recent || [];
    x = rec.map(r => Date.parse(r.at) / 1000);
    rtt = rec.map(r => r.rtt_seconds == null ? null : r.rtt_seconds * 1000); rmin = rtt; rmax = rtt;
    loss = rec.map(r => r.outcome === 'ok' ? 0 : 100);
    const hp = hs.health; cpu = rec.map(() => null); mem = cpu; disk = cpu;
    if (hp && rec.length) { /* one point: the latest blob */ }
  }
  chart('chart-rtt', x, [{label: 'avg', stroke: '#1d4ed8', data: rtt}, {label: 'min', stroke: '#93c5fd', data: rmin}, {label: 'max', stroke: '#f59e0b', data: rmax}]);
  chart('chart-loss', x, [{label: 'loss %', stroke: '#b91c1c', data: loss, fill: 'rgba(185,28,28,0.15)'}]);
  chart('chart-health', x, [{label: 'cpu %', stroke: '#7c3aed', data: cpu}, {label: 'mem %', stroke: '#0d9488', data: mem}, {label: 'disk %', stroke: '#b45309', data: disk}]);
}

function chart(id, x, series) {
  const el = document.getElementById(id);
  el.innerHTML = '';
  if (!x.length) { el.innerHTML = '<p class="muted">No data in this range.</p>'; return; }
  const opts = {width: Math.max(300, el.clientWidth || 500), height: 220, series: [{}].concat(series.map(s => ({label: s.label, stroke: s.stroke, fill: s.fill, width: 1.5, spanGaps: false}))),
    axes: [{}, {size: 50}], legend: {live: true}};
  const u = new uPlot(opts, [x].concat(series.map(s => s.data)), el);
  window.hbCharts.push({id, points: x.length, canvas: !!el.querySelector('canvas'), u});
}

// ---- alerts ----
async function pageAlerts() {
  const q0 = new URLSearchParams(location.search);
  main().innerHTML = `<h1>Alerts</h1><p class="muted" id="alert-summary"></p><form class="filters"><label><input type="checkbox" id="show-all"> include recovered</label>
    <label title="alerts an active silence or maintenance window covers: their notifications are held back"><input type="checkbox" id="hide-silenced"${q0.get('silenced') === '0' ? ' checked' : ''}> hide silenced</label></form>
    <div id="alerts"></div><h2>Silence a host</h2>
    <form class="filters" id="silence"><input name="host" placeholder="host" required><input name="check" placeholder="check (all)"><input name="duration" value="2h" size="6"><input name="comment" placeholder="comment" size="30"><button class="btn" type="submit">Silence</button><span id="silence-msg" class="muted"></span></form>
    <h2>Active silences</h2><div id="silences"></div>`;
  const load = async () => {
    const p = new URLSearchParams();
    if ($('#show-all').checked) p.set('all', '1');
    if ($('#hide-silenced').checked) p.set('silenced', '0');
    const qs = p.toString();
    const d = await api('/ui/api/alerts' + (qs ? '?' + qs : ''));
    if (!d.available) { $('#alerts').innerHTML = '<p class="muted">Alerting is not configured.</p>'; return; }
    renderAlerts($('#alerts'), d.alerts, true, load);
    $('#alert-summary').textContent = `${d.total.toLocaleString()} alert${d.total === 1 ? '' : 's'}` +
      ($('#hide-silenced').checked ? ', silenced ones hidden' : (d.silenced ? `, ${d.silenced.toLocaleString()} of them silenced (notifications held back)` : ''));
    if (d.total > d.alerts.length) $('#alerts').prepend(h(`<p class="muted">The ${d.alerts.length} most urgent of ${d.total.toLocaleString()} alerts.</p>`));
    const s = await api('/ui/api/silences');
    $('#silences').innerHTML = s.silences.length ? `<table id="silence-list"><thead><tr><th>Matchers</th><th>Author</th><th>Until</th><th>Comment</th><th></th></tr></thead><tbody>${s.silences.map(x => `<tr data-silence="${x.id}" id="silence-${x.id}"><td>${esc(x.matchers)}</td><td>${esc(x.author)}</td><td class="until">${x.ends_at ? new Date(x.ends_at).toLocaleString() : (x.schedule ? esc(x.schedule) + ' UTC' : '')}</td><td>${esc(x.comment)}</td>
      <td class="actions">${x.can_change ? `${x.ends_at ? `<button class="btn" data-extend="${x.id}" title="end one hour later">+1h</button> ` : ''}<button class="btn" data-lift="${x.id}" title="end the silence now">Lift</button>` : ''}</td></tr>`).join('')}</tbody></table>` : '<p class="muted">None.</p>';
    const act = (b, req) => async () => {
      b.disabled = true;
      try { await req(); load(); } catch (err) { b.parentElement.textContent = err.message; }
    };
    for (const b of document.querySelectorAll('#silences [data-lift]')) b.onclick = act(b, () => api(`/ui/api/silences/${b.dataset.lift}`, {method: 'DELETE'}));
    for (const b of document.querySelectorAll('#silences [data-extend]')) b.onclick = act(b, () => api(`/ui/api/silences/${b.dataset.extend}`, {method: 'PATCH', body: {extend: '1h'}}));
    const m = /^#silence-(\d+)$/.exec(location.hash);
    if (m && first) jumpToSilence(m[1]);
    first = false;
  };
  let first = true;
  $('#show-all').onchange = load;
  $('#hide-silenced').onchange = () => {
    const u = new URL(location.href);
    if ($('#hide-silenced').checked) u.searchParams.set('silenced', '0'); else u.searchParams.delete('silenced');
    history.replaceState(null, '', u.pathname + u.search + u.hash);
    load();
  };
  $('#silence').onsubmit = async e => {
    e.preventDefault(); const fd = new FormData(e.target);
    try { await api('/ui/api/silences', {method: 'POST', body: Object.fromEntries(fd)}); $('#silence-msg').textContent = 'silenced'; load(); } catch (err) { $('#silence-msg').textContent = err.message; }
  };
  onChanges = () => {};
  await load();
}

// jumpToSilence scrolls the silences list to silence id and flashes it.
function jumpToSilence(id) {
  const r = document.getElementById('silence-' + id);
  if (!r) return false;
  r.scrollIntoView({block: 'center'});
  r.classList.remove('flash'); void r.offsetWidth; r.classList.add('flash');
  return true;
}

// silencedBadge is the mark of an alert an active silence or maintenance
// window covers: "silenced until …", linking to the silence in the list.
function silencedBadge(sl) {
  if (!sl) return '';
  const u = new Date(sl.until);
  const until = u.toDateString() === new Date().toDateString() ? u.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'}) : u.toLocaleString([], {dateStyle: 'short', timeStyle: 'short'});
  const what = sl.id ? `silence ${sl.id}` : `maintenance ${sl.maintenance}`;
  const title = `${what}${sl.by ? ' by ' + sl.by : ''}${sl.comment ? ': ' + sl.comment : ''}${sl.matchers ? ' (' + sl.matchers + ')' : ''}, until ${u.toLocaleString()}; notifications are held back`;
  const text = `silenced until ${esc(until)}`;
  return sl.id ? ` <a class="badge silenced" href="/ui/alerts#silence-${sl.id}" data-silence-link="${sl.id}" title="${esc(title)}">${text}</a>`
    : ` <span class="badge silenced" title="${esc(title)}">${text}</span>`;
}

function renderAlerts(el, list, withHost, reload) {
  if (!list.length) { el.innerHTML = '<p class="muted">No alerts.</p>'; return; }
  el.innerHTML = `<table class="alerts"><thead><tr><th>Level</th>${withHost ? '<th>Host</th>' : ''}<th>Check</th><th>Rule</th><th>Since</th><th>Message</th><th>Ack</th></tr></thead><tbody>
    ${list.map(({alert: a, can_ack}) => `<tr data-alert="${a.id}"${a.silenced ? ` class="silenced" data-silenced="${a.silenced.id}"` : ''}><td>${esc(a.level)}${silencedBadge(a.silenced)}</td>${withHost ? `<td><a href="/ui/host?name=${encodeURIComponent(a.host)}">${esc(a.host)}</a></td>` : ''}
    <td>${esc(a.check)}</td><td>${esc(a.rule)}</td><td>${a.since ? new Date(a.since).toLocaleString() : ''}</td><td>${esc(a.text || '')}</td>
    <td class="ack">${a.acknowledged ? "acked by " + esc(a.acknowledged_by) : (can_ack ? `<button class="btn" data-ack="${a.id}">Acknowledge</button>` : '')}</td></tr>`).join('')}</tbody></table>`;
  // On the alerts page the silence is in the list below: jump to it
  // (elsewhere the link opens the alerts page there).
  for (const b of el.querySelectorAll('[data-silence-link]')) b.onclick = e => {
    if (location.pathname === '/ui/alerts' && jumpToSilence(b.dataset.silenceLink)) { e.preventDefault(); history.replaceState(null, '', location.pathname + location.search + '#silence-' + b.dataset.silenceLink); }
  };
  for (const b of el.querySelectorAll('[data-ack]')) b.onclick = async () => {
    try { await api(`/ui/api/alerts/${b.dataset.ack}/ack`, {method: 'POST', body: {comment: 'from the dashboard'}}); b.parentElement.textContent = 'acked by ' + (me.user || 'dashboard'); if (reload) reload(); }
    catch (err) { b.parentElement.textContent = err.message; }
  };
}

// ---- events ----
async function pageEvents(q) {
  const f = {source: q.get('source') || '', level: q.get('level') || '', message: q.get('message') || '', before: q.get('before') || ''};
  main().innerHTML = `<h1>Events</h1><form class="filters" id="ev-filters"><input name="source" placeholder="host or source" value="${esc(f.source)}">
    <select name="level"><option value="">any level</option>${['debug', 'info', 'warning', 'error', 'critical'].map(l => `<option${f.level === l ? ' selected' : ''}>${l}</option>`).join('')}</select>
    <input name="message" placeholder="message contains" value="${esc(f.message)}"><button class="btn" type="submit">Filter</button></form><div id="events"></div>`;
  $('#ev-filters').onsubmit = e => { e.preventDefault(); const n = new URLSearchParams(); for (const [k, v] of new FormData(e.target)) if (v) n.set(k, v); nav('/ui/events?' + n); };
  const p = new URLSearchParams(); for (const [k, v] of Object.entries(f)) if (v) p.set(k, v);
  const d = await api('/ui/api/events?' + p);
  if (!d.available) { $('#events').innerHTML = '<p class="muted">No event log (push.events_db off, or no store).</p>'; return; }
  $('#events').innerHTML = `<table><thead><tr><th>Time</th><th>Level</th><th>Host</th><th>Source</th><th>Type</th><th>Message</th></tr></thead><tbody>
    ${d.events.map(e => `<tr><td>${new Date(e.time).toLocaleString()}</td><td>${esc(e.level)}</td><td>${e.host ? `<a href="/ui/host?name=${encodeURIComponent(e.host)}">${esc(e.host)}</a>` : ''}</td><td>${esc(e.source)}</td><td>${esc(e.type)}</td><td>${esc(e.message)}</td></tr>`).join('')}</tbody></table>
    ${d.next ? `<p><a href="/ui/events?${new URLSearchParams({...Object.fromEntries(p), before: d.next})}">Older ›</a></p>` : ''}`;
}

// ---- settings ----
async function pageSettings() {
  let d;
  try { d = await api('/ui/api/settings'); } catch (e) { main().innerHTML = `<p class="error">${esc(e.message)}</p>`; return; }
  main().innerHTML = `<h1>Settings</h1><p class="muted">Effective configuration${d.file ? ' from ' + esc(d.file) : ''} (defaults &lt; file &lt; flags); secrets are redacted. Edit the file and send SIGHUP to apply.</p><pre id="settings"></pre>`;
  $('#settings').textContent = JSON.stringify(d.config, null, 2);
}

boot();
