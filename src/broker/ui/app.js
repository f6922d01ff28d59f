// SPDX-License-Identifier: Apache-2.0
// app.js — the broker page (index.html): reads GET /healthz, /v1/nodes and /v1/leases with the
// tenant's token and draws the fleet, the leases and usage over time. Read-only: it never sends
// anything but GETs. Everything from the server is inserted as text (textContent), never as HTML.
'use strict';

(function () {
  const REFRESH_MS = 5000;
  const PAGE = 1000; // leases per request (the API's maximum page)
  const MAX_PAGES = 20;
  let token = null;
  let timer = null;

  // ---------------------------------------------------------------- token
  function takeToken() {
    const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (m) { // a link with #token=...: keep it for this tab, then drop it from the address bar
      token = decodeURIComponent(m[1]);
      try { sessionStorage.setItem('lepton.token', token); } catch (e) { /* private mode */ }
      history.replaceState(null, '', location.pathname + location.search);
      return;
    }
    try { token = sessionStorage.getItem('lepton.token'); } catch (e) { token = null; }
  }

  class ApiError extends Error {
    constructor(status, code, message, hint) {
      super(message);
      this.status = status;
      this.code = code;
      this.hint = hint;
    }
  }

  async function api(path) {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    let res;
    try {
      res = await fetch(path, { headers: headers, cache: 'no-store' });
    } catch (e) {
      throw new ApiError(0, 'unreachable', 'the broker does not answer (' + e.message + ')', null);
    }
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok) {
      const err = body && body.error ? body.error : {};
      throw new ApiError(res.status, err.code || String(res.status),
        err.message || ('HTTP ' + res.status + ' from ' + path), err.hint || null);
    }
    return body;
  }

  async function allLeases() {
    let out = [];
    let after = null;
    for (let i = 0; i < MAX_PAGES; i++) {
      const q = '/v1/leases?limit=' + PAGE + (after ? '&after=' + encodeURIComponent(after) : '');
      const page = await api(q);
      out = out.concat(page.leases || []);
      if (!page.next) break;
      after = page.next;
    }
    return out;
  }

  // ---------------------------------------------------------------- formatting
  // Money as the CLI prints it (src/common/money.c): six decimals, trailing zeros beyond the cents dropped.
  function money(usd) {
    if (typeof usd !== 'number' || !isFinite(usd)) return '$' + String(usd);
    let s = Math.abs(usd).toFixed(6);
    while (s.length > 0 && s.indexOf('.') >= 0 && s.length - s.indexOf('.') > 3 && s.endsWith('0')) {
      s = s.slice(0, -1);
    }
    const negative = usd < 0 && /[1-9]/.test(s);
    return (negative ? '-' : '') + '$' + s;
  }

  function pad(n) { return (n < 10 ? '0' : '') + n; }

  // A time in this browser's zone, with the zone: "2026-12-07 11:30:05 UTC" or "... +01:00".
  function when(unixSeconds) {
    if (unixSeconds === null || unixSeconds === undefined) return '—';
    const d = new Date(unixSeconds * 1000);
    const off = -d.getTimezoneOffset();
    const zone = off === 0 ? 'UTC'
      : (off > 0 ? '+' : '-') + pad(Math.floor(Math.abs(off) / 60)) + ':' + pad(Math.abs(off) % 60);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + ' ' + zone;
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    const d = Math.floor(seconds / 86400);
    const h = Math.floor((seconds % 86400) / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    if (d) return d + ' d ' + h + ' h';
    if (h) return h + ' h ' + m + ' min';
    if (m) return m + ' min ' + s + ' s';
    return s + ' s';
  }

  function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }

  // ---------------------------------------------------------------- DOM helpers
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function row(cells) {
    const tr = document.createElement('tr');
    for (const c of cells) tr.appendChild(c instanceof Node ? c : el('td', c));
    return tr;
  }

  function fill(tableId, rows, emptyText, columns) {
    const body = document.querySelector('#' + tableId + ' tbody');
    body.replaceChildren();
    if (!rows.length) {
      const td = el('td', emptyText, 'muted');
      td.colSpan = columns;
      body.appendChild(row([td]));
      return;
    }
    for (const r of rows) body.appendChild(r);
  }

  function setStatus(text, isError) {
    const s = document.getElementById('status');
    s.textContent = text;
    s.className = isError ? 'error' : 'muted';
  }

  // ---------------------------------------------------------------- fleet
  function renderFleet(nodes) {
    const models = new Map();
    const nodeRows = [];
    for (const n of nodes) {
      const byModel = new Map();
      for (const g of n.gpus || []) {
        const m = models.get(g.model) || { total: 0, free: 0, leased: 0, prices: new Set() };
        m.total++;
        if (g.leased) m.leased++;
        else if (n.state === 'ready') m.free++;
        m.prices.add(n.price_per_gpu_hour);
        models.set(g.model, m);
        byModel.set(g.model, (byModel.get(g.model) || 0) + 1);
      }
      const gpus = Array.from(byModel, ([model, count]) => count + ' × ' + model).join(', ') || '—';
      const tr = row([el('td', n.name), el('td', n.state, 'state-' + n.state), el('td', gpus),
        el('td', n.gpus_free, 'num'), el('td', money(n.price_per_gpu_hour), 'num'),
        el('td', when(n.last_heartbeat_at))]);
      tr.dataset.node = n.name;
      nodeRows.push(tr);
    }
    const modelRows = [];
    for (const [model, m] of models) {
      const prices = Array.from(m.prices).sort((a, b) => a - b);
      const price = prices.length === 1 ? money(prices[0])
        : money(prices[0]) + ' – ' + money(prices[prices.length - 1]);
      const tr = row([el('td', model), el('td', m.total, 'num'), el('td', m.free, 'num'),
        el('td', m.leased, 'num'), el('td', price, 'num')]);
      tr.dataset.model = model;
      modelRows.push(tr);
    }
    fill('models', modelRows, 'no GPUs registered', 5);
    fill('nodes', nodeRows, 'no nodes registered (start leptond, or lepton dev)', 6);
  }

  // ---------------------------------------------------------------- leases
  function leaseEnd(l, now) {
    if (l.state === 'active' || l.state === 'pending') {
      if (!l.expires_at) return '—';
      return duration(l.expires_at - now) + ' left (until ' + when(l.expires_at) + ')';
    }
    return (l.end_reason || l.state) + (l.ended_at ? ' at ' + when(l.ended_at) : '');
  }

  function renderLeases(leases, now) {
    leases = leases.slice().sort((a, b) => (b.created_at || 0) - (a.created_at || 0));
    const rows = leases.map((l) => {
      const tr = row([el('td', l.id), el('td', l.state, 'state-' + l.state),
        el('td', l.gpu_count + ' × ' + l.gpu_model), el('td', money(l.cost), 'num cost'),
        el('td', l.gpu_seconds, 'num'), el('td', when(l.started_at)), el('td', leaseEnd(l, now))]);
      tr.dataset.leaseId = l.id;
      tr.dataset.state = l.state;
      return tr;
    });
    fill('leases', rows, 'no leases yet (lepton lease open, or lepton run)', 7);
    const active = leases.filter((l) => l.state === 'active').length;
    const cost = leases.reduce((a, l) => a + (l.cost || 0), 0);
    const gs = leases.reduce((a, l) => a + (l.gpu_seconds || 0), 0);
    document.getElementById('totals').textContent = plural(leases.length, 'lease', 'leases') + ', ' +
      active + ' active; ' + plural(gs, 'GPU-second', 'GPU-seconds') + ', ' + money(cost) + ' in all.';
  }

  // ---------------------------------------------------------------- chart
  const SVG = 'http://www.w3.org/2000/svg';

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function renderChart(leases, now) {
    const box = document.getElementById('chart');
    box.replaceChildren();
    const spans = leases.filter((l) => l.started_at).map((l) => ({
      from: l.started_at, to: l.ended_at || (l.state === 'active' ? now : l.started_at),
      gpus: l.gpu_count, cost: l.cost || 0, active: l.state === 'active',
    }));
    if (!spans.length) {
      box.appendChild(el('p', 'No usage yet.', 'muted'));
      return;
    }
    const W = 760, H = 220, L = 56, R = 64, T = 12, B = 28;
    // from the first lease's start (or a minute ago, at least) to now
    const t1 = Math.max(now, Math.max.apply(null, spans.map((s) => s.to)));
    const t0 = Math.min(t1 - 60, Math.min.apply(null, spans.map((s) => s.from)));
    const x = (t) => L + (W - L - R) * (t - t0) / (t1 - t0);
    // GPUs held: a step function over the lease starts and ends
    const events = [];
    for (const s of spans) {
      events.push([s.from, s.gpus]);
      if (!s.active) events.push([s.to, -s.gpus]); // an active lease is still held at the right edge
    }
    events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let held = 0, maxHeld = 1;
    const steps = [[t0, 0]];
    for (const [t, d] of events) {
      steps.push([t, held]);
      held += d;
      steps.push([t, held]);
      maxHeld = Math.max(maxHeld, held);
    }
    steps.push([t1, held]);
    // cost so far: each lease's cost spread evenly over its span
    const N = 120;
    const costAt = (t) => spans.reduce((a, s) => a + (s.to > s.from
      ? s.cost * Math.min(1, Math.max(0, (t - s.from) / (s.to - s.from))) : (t >= s.from ? s.cost : 0)), 0);
    const costPts = [];
    for (let i = 0; i <= N; i++) { const t = t0 + (t1 - t0) * i / N; costPts.push([t, costAt(t)]); }
    const maxCost = Math.max(costPts[N][1], 1e-9);
    const yG = (g) => H - B - (H - B - T) * g / maxHeld;
    const yC = (c) => H - B - (H - B - T) * c / maxCost;

    const s = svg('svg', { width: W, height: H, viewBox: '0 0 ' + W + ' ' + H });
    s.appendChild(svg('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' }));
    s.appendChild(svg('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' }));
    s.appendChild(svg('line', { x1: W - R, y1: T, x2: W - R, y2: H - B, class: 'axis' }));
    const area = 'M' + x(t0) + ',' + yC(0) + ' ' + costPts.map((p) => 'L' + x(p[0]) + ',' + yC(p[1])).join(' ') +
      ' L' + x(t1) + ',' + yC(0) + ' Z';
    s.appendChild(svg('path', { d: area, class: 'cost' }));
    s.appendChild(svg('path', { d: 'M' + steps.map((p) => x(p[0]) + ',' + yG(p[1])).join(' L'), class: 'gpus' }));
    s.appendChild(svg('text', { x: L - 6, y: T + 10, 'text-anchor': 'end' }, plural(maxHeld, 'GPU', 'GPUs')));
    s.appendChild(svg('text', { x: L - 6, y: H - B, 'text-anchor': 'end' }, '0'));
    s.appendChild(svg('text', { x: W - R + 6, y: T + 10 }, money(maxCost)));
    s.appendChild(svg('text', { x: W - R + 6, y: H - B }, '$0'));
    s.appendChild(svg('text', { x: L, y: H - 8 }, when(t0)));
    s.appendChild(svg('text', { x: W - R, y: H - 8, 'text-anchor': 'end' }, when(t1)));
    box.appendChild(s);
  }

  // ---------------------------------------------------------------- the loop
  function showLogin(why) {
    document.getElementById('main').hidden = true;
    document.getElementById('login').hidden = false;
    document.getElementById('login-why').textContent = why;
    setStatus('a token is needed', true);
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const [health, nodes, leases] = await Promise.all([api('/healthz'), api('/v1/nodes'), allLeases()]);
      const now = Date.now() / 1000;
      document.getElementById('version').textContent = 'lepton-broker ' + (health.version || '');
      const tenants = Array.from(new Set(leases.map((l) => l.tenant)));
      document.getElementById('tenant').textContent = tenants.length === 1 ? 'tenant ' + tenants[0] : '';
      renderFleet(nodes.nodes || []);
      renderLeases(leases, now);
      renderChart(leases, now);
      document.getElementById('login').hidden = true;
      document.getElementById('main').hidden = false;
      setStatus('updated ' + when(now), false);
      document.body.dataset.loaded = '1';
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
        showLogin(e.message + (e.hint ? ' — ' + e.hint : ''));
        document.body.dataset.loaded = 'login';
        return; // no retry loop on a bad token: the form restarts it
      }
      setStatus(e.message + (e.hint ? ' — ' + e.hint : ''), true);
      document.body.dataset.loaded = 'error';
    }
    timer = setTimeout(refresh, REFRESH_MS);
  }

  document.addEventListener('DOMContentLoaded', () => {
    takeToken();
    document.getElementById('login').addEventListener('submit', (ev) => {
      ev.preventDefault();
      token = document.getElementById('token').value.trim() || null;
      try {
        if (token) sessionStorage.setItem('lepton.token', token);
        else sessionStorage.removeItem('lepton.token');
      } catch (e) { /* private mode */ }
      refresh();
    });
    refresh();
  });
})();
