// The basewatch page: reads the projector's /v1 API with the read key kept in this
// browser and redraws every few seconds. Plain DOM, no framework, no network beyond
// this origin (the Content-Security-Policy enforces that).
(() => {
  'use strict';

  const KEY_STORE = 'basewatch.readKey';
  const REFRESH_MS = 5000;
  const SIGNALS_SHOWN = 12;
  const PRODUCTS_DETAILED = 12;
  const CHART_POINTS = 240;
  const SIGNAL_BARS = 40;

  const SEGMENTS = [
    ['loyal', 'Loyal', 'bought at least twice'],
    ['one_time', 'One-time', 'bought once'],
    ['prospect', 'Prospect', 'uses, never bought'],
    ['suspect', 'Suspect', 'known, neither'],
  ];
  const CUSTOMER_STATUSES = [
    ['active', 'Active'],
    ['lapsed', 'Lapsed'],
    ['never_installed', 'Never installed'],
    ['none', 'No purchase'],
  ];
  const INSTALLATION_STATUSES = [
    ['active', 'Active'],
    ['at_risk', 'At risk'],
    ['churned', 'Churned'],
    ['uninstalled', 'Uninstalled'],
  ];
  const SIGNAL_KINDS = [
    ['installation.at_risk', 'At risk'],
    ['installation.churned', 'Churned'],
    ['installation.reactivated', 'Reactivated'],
    ['installation.uninstalled', 'Uninstalled'],
    ['customer.lapsed', 'Customer lapsed'],
    ['customer.reactivated', 'Customer back'],
  ];
  // One colour per category, shared by bars, charts and badges (see page.css).
  const COLOURS = {
    loyal: '#1f7a5a', one_time: '#3b82c4', prospect: '#d08a16', suspect: '#9aa3ae',
    active: '#1f9d6b', at_risk: '#e0a21b', churned: '#d64545', uninstalled: '#8b95a1',
    lapsed: '#d64545', never_installed: '#b07cd8', none: '#9aa3ae',
    'installation.at_risk': '#e0a21b', 'installation.churned': '#d64545',
    'installation.reactivated': '#1f9d6b', 'installation.uninstalled': '#8b95a1',
    'customer.lapsed': '#8e4ec6', 'customer.reactivated': '#3b82c4',
  };

  const numbers = new Intl.NumberFormat();
  const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const stamp = new Intl.DateTimeFormat(undefined, {
    month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });

  const $ = (selector, root = document) => root.querySelector(selector);
  const state = {
    key: null,
    timer: null,
    running: false,
    again: false,
    refreshes: 0,
    interval: null, // the history recording interval in seconds, once known
    intervalText: null, // the same as the API writes it (1h, 5s)
    firstSample: null, // the time of the oldest history sample seen (seconds)
    charts: {},
  };

  // ---- small DOM helpers ------------------------------------------------------------

  function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === 'class') el.className = value;
      else if (name === 'text') el.textContent = value;
      else el.setAttribute(name, value === true ? '' : value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) el.append(child);
    }
    return el;
  }

  function svg(tag, attrs = {}, text = null) {
    const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
    if (text !== null) el.textContent = text;
    return el;
  }

  const fmt = (n) => (n === null || n === undefined ? '–' : numbers.format(n));

  // A number the test reads back: the same data-testid always holds the same value.
  const num = (testid, n, cls = 'n') => h('span', { class: cls, 'data-testid': testid, text: fmt(n) });

  function setNumber(testid, n) {
    for (const el of document.querySelectorAll(`[data-testid="${CSS.escape(testid)}"]`)) {
      el.textContent = fmt(n);
    }
  }

  function dot(key) {
    const el = h('span', { class: 'dot', 'aria-hidden': 'true' });
    el.style.background = COLOURS[key] || '#9aa3ae';
    return el;
  }

  // ---- the API -------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }

  async function api(path, params = {}) {
    const url = new URL(path, document.baseURI);
    for (const [name, value] of Object.entries(params)) {
      if (value !== null && value !== undefined) url.searchParams.set(name, value);
    }
    let response;
    try {
      response = await fetch(url, {
        headers: { Authorization: `Bearer ${state.key}`, Accept: 'application/json' },
        cache: 'no-store',
      });
    } catch (err) {
      throw new ApiError(0, 'the projector does not answer');
    }
    if (!response.ok) {
      let detail = response.statusText;
      try {
        const problem = await response.json();
        detail = problem.detail || problem.title || detail;
      } catch (err) { /* not JSON: keep the status text */ }
      throw new ApiError(response.status, detail);
    }
    return response.json();
  }

  // ---- the key -------------------------------------------------------------------------

  function showKeyForm(message = '', { refused = true } = {}) {
    state.key = null;
    clearTimeout(state.timer);
    for (const el of document.querySelectorAll('[data-when]')) {
      el.hidden = el.dataset.when !== 'nokey';
    }
    $('#key-error').textContent = message;
    $('#key-error').classList.toggle('note', !refused);
    $('#key').value = '';
    $('#key').focus();
  }

  function showDashboard() {
    for (const el of document.querySelectorAll('[data-when]')) {
      el.hidden = el.dataset.when !== 'key';
    }
  }

  function useKey(key) {
    state.key = key;
    state.interval = null;
    state.firstSample = null;
    showDashboard();
    refresh();
  }

  function refused(err) {
    if (err.status === 401) return 'That key was refused: it is not a key this projector knows.';
    if (err.status === 403) return 'That key has no read scope: use a key made with the read scope.';
    return null;
  }

  // ---- refreshing --------------------------------------------------------------------

  async function refresh() {
    if (state.key === null) return;
    if (document.hidden) { // nobody is looking: no load on the projector until someone is
      clearTimeout(state.timer);
      state.timer = setTimeout(refresh, REFRESH_MS);
      return;
    }
    if (state.running) {
      state.again = true; // asked for while one runs: run once more right after it
      return;
    }
    state.running = true;
    state.again = false;
    clearTimeout(state.timer);
    const key = state.key;
    try {
      // The summary first and alone: a wrong key is told before anything else is drawn.
      const requestedAt = Date.now();
      const summary = await api('v1/summary');
      const [lag, products] = await Promise.all([
        api('v1/ops/lag').catch(() => null),
        productDetails(summary),
      ]);
      renderSummary(summary, products);
      // When the summary now shown was asked for: a reader can tell it is fresh.
      $('#refreshed').dataset.summaryRequestedAt = String(requestedAt);
      renderLag(lag);
      await Promise.all([refreshSignals(), refreshHistory()]);
      state.refreshes += 1;
      const now = new Date();
      const refreshed = $('#refreshed');
      refreshed.textContent = `Updated ${clock.format(now)} · every ${REFRESH_MS / 1000} s`;
      refreshed.dataset.count = String(state.refreshes);
      refreshed.classList.remove('stale');
      $('#banner').hidden = true;
    } catch (err) {
      if (state.key !== key) return; // forgotten meanwhile
      const message = refused(err);
      if (message) {
        localStorage.removeItem(KEY_STORE);
        showKeyForm(message);
        return;
      }
      $('#banner').textContent = `Could not refresh: ${err.message}. Showing the last data; retrying.`;
      $('#banner').hidden = false;
      $('#refreshed').classList.add('stale');
    } finally {
      state.running = false;
      if (state.key !== null) state.timer = setTimeout(refresh, state.again ? 0 : REFRESH_MS);
    }
  }

  async function productDetails(summary) {
    const ids = summary.installed_base.by_product
      .map((p) => p.product_id)
      .filter((id) => id !== null)
      .slice(0, PRODUCTS_DETAILED);
    const found = await Promise.all(
      ids.map((id) => api(`v1/products/${encodeURIComponent(id)}`).catch(() => null)),
    );
    return new Map(found.filter(Boolean).map((p) => [p.product_id, p]));
  }

  // ---- summary -----------------------------------------------------------------------

  function renderSummary(s, products) {
    const cb = s.customer_base;
    const ib = s.installed_base;
    setNumber('summary.customer_base.total', cb.total);
    setNumber('summary.installed_base.total', ib.total);
    for (const [key, value] of Object.entries(s.overlap)) setNumber(`summary.overlap.${key}`, value);

    const everyone = SEGMENTS.reduce((sum, [key]) => sum + (cb.by_segment[key] || 0), 0);
    bars($('#segments'), SEGMENTS.map(([key, label, note]) => ({
      key, label, note, value: cb.by_segment[key], testid: `summary.customer_base.by_segment.${key}`,
    })), everyone);
    bars($('#customer-statuses'), CUSTOMER_STATUSES.map(([key, label]) => ({
      key, label, value: cb.by_status[key], testid: `summary.customer_base.by_status.${key}`,
    })), everyone);
    const installations = INSTALLATION_STATUSES.reduce((sum, [key]) => sum + ib.by_status[key], 0);
    bars($('#installation-statuses'), INSTALLATION_STATUSES.map(([key, label]) => ({
      key, label, value: ib.by_status[key], testid: `summary.installed_base.by_status.${key}`,
    })), installations);
    renderVenn(s);
    renderProducts(ib.by_product, products);
  }

  function bars(list, rows, total) {
    list.replaceChildren(...rows.map((row) => {
      const fill = h('span', { class: row.value ? 'fill' : 'fill zero' });
      fill.style.width = `${total ? (100 * row.value) / total : 0}%`;
      fill.style.background = COLOURS[row.key];
      return h('li', {},
        h('span', { class: 'bar-label' }, dot(row.key), row.label,
          row.note ? h('span', { class: 'bar-note', text: row.note }) : null),
        h('span', { class: 'track', 'aria-hidden': 'true' }, fill),
        num(row.testid, row.value, 'n bar-value'));
    }));
  }

  function renderVenn(s) {
    const o = s.overlap;
    const onlyPaying = o.paying_and_lapsed + o.paying_never_installed;
    const figure = $('#venn');
    const picture = svg('svg', {
      viewBox: '0 0 440 250', role: 'img',
      'aria-label': `Paying customers: ${onlyPaying} not using anything, ${o.paying_and_active} ` +
        `using a product. Customers using a product without paying: ${o.active_not_paying_customers}.`,
    });
    picture.append(
      svg('circle', { cx: 160, cy: 128, r: 104, class: 'venn-paying' }),
      svg('circle', { cx: 280, cy: 128, r: 104, class: 'venn-using' }),
      svg('text', { x: 100, y: 20, class: 'venn-title', 'text-anchor': 'middle' }, 'Paying'),
      svg('text', { x: 340, y: 20, class: 'venn-title', 'text-anchor': 'middle' }, 'Using'),
      svg('text', { x: 105, y: 128, class: 'venn-n', 'text-anchor': 'middle' }, fmt(onlyPaying)),
      svg('text', { x: 105, y: 150, class: 'venn-l', 'text-anchor': 'middle' }, 'lapsed or'),
      svg('text', { x: 105, y: 166, class: 'venn-l', 'text-anchor': 'middle' }, 'never installed'),
      svg('text', { x: 220, y: 128, class: 'venn-n', 'text-anchor': 'middle' }, fmt(o.paying_and_active)),
      svg('text', { x: 220, y: 150, class: 'venn-l', 'text-anchor': 'middle' }, 'paying and'),
      svg('text', { x: 220, y: 166, class: 'venn-l', 'text-anchor': 'middle' }, 'active'),
      svg('text', { x: 335, y: 128, class: 'venn-n', 'text-anchor': 'middle' }, fmt(o.active_not_paying_customers)),
      svg('text', { x: 335, y: 150, class: 'venn-l', 'text-anchor': 'middle' }, 'using,'),
      svg('text', { x: 335, y: 166, class: 'venn-l', 'text-anchor': 'middle' }, 'not paying'),
    );
    figure.replaceChildren(picture, h('figcaption', {
      class: 'visually-hidden',
      text: 'Customers: paying (left), with an installation in use (right), both (middle).',
    }));
    const rows = [
      ['paying_and_active', 'Paying and active', 'bought, and an installation is in use', 'good'],
      ['paying_and_lapsed', 'Paying and lapsed', 'bought, installations gone silent', 'bad'],
      ['paying_never_installed', 'Paying, never installed', 'bought, never installed', 'plain'],
      ['active_not_paying_customers', 'Using, not paying', 'prospects with an installation in use', 'lead'],
      ['active_not_paying_installations', 'Installations in use unpaid', 'owner is a prospect or unknown', 'lead'],
    ];
    $('#overlap').replaceChildren(...rows.map(([key, label, note, tone]) => h('div', { class: `pair ${tone}` },
      h('dt', {}, label, h('span', { class: 'bar-note', text: note })),
      h('dd', {}, num(`summary.overlap.${key}`, o[key])))));
  }

  function renderProducts(byProduct, details) {
    const body = $('#products tbody');
    const rows = [];
    for (const p of byProduct) {
      const id = p.product_id;
      const name = id === null ? 'no product yet' : id;
      const base = `summary.installed_base.by_product.${id === null ? '~' : id}`;
      const detail = id === null ? null : details.get(id);
      rows.push(h('tr', { class: 'product' },
        h('th', { scope: 'row' }, h('span', { class: id === null ? 'unknown' : '', text: name })),
        h('td', { class: 'num' }, detail ? num(`product.${id}.units_sold`, detail.units_sold) : '–'),
        h('td', { class: 'money' }, detail ? revenue(detail.revenue) : '–'),
        ...statusCells(base, p),
        h('td', { class: 'mix-col' }, mix(p))));
      for (const v of detail ? detail.versions : []) {
        const vname = v.version === null ? 'no version' : v.version;
        rows.push(h('tr', { class: 'version' },
          h('th', { scope: 'row' }, h('span', { class: 'version-name', text: vname })),
          h('td', {}), h('td', {}),
          ...statusCells(`product.${id}.version.${v.version === null ? '~' : v.version}`, v),
          h('td', { class: 'mix-col' }, mix(v))));
      }
    }
    if (rows.length === 0) {
      rows.push(h('tr', {}, h('td', { colspan: 9, class: 'empty', text: 'No installations yet.' })));
    }
    body.replaceChildren(...rows);
  }

  function statusCells(base, counts) {
    return ['installations', ...INSTALLATION_STATUSES.map(([key]) => key)].map((key) =>
      h('td', { class: 'num' }, num(`${base}.${key}`, counts[key])));
  }

  function mix(counts) {
    const bar = h('span', { class: 'mix', role: 'presentation' });
    for (const [key] of INSTALLATION_STATUSES) {
      if (!counts.installations || !counts[key]) continue;
      const part = h('span', {});
      part.style.width = `${(100 * counts[key]) / counts.installations}%`;
      part.style.background = COLOURS[key];
      bar.append(part);
    }
    return bar;
  }

  // Revenue per currency, never summed across currencies. The API's amounts are exact
  // decimal strings (the tooltip shows them); the cell shows them rounded, compactly.
  function revenue(byCurrency) {
    const entries = Object.entries(byCurrency).sort(([a], [b]) => a.localeCompare(b));
    if (entries.length === 0) return '–';
    return h('span', { class: 'amounts' }, ...entries.map(([currency, amount]) =>
      h('span', { class: 'amount', title: `${amount} ${currency}`, text: money(amount, currency) })));
  }

  function money(amount, currency) {
    try {
      return new Intl.NumberFormat(undefined, {
        style: 'currency', currency, maximumFractionDigits: 0,
      }).format(Number(amount));
    } catch (err) { // not an ISO 4217 code this browser knows
      return `${amount} ${currency}`;
    }
  }

  // ---- lag -----------------------------------------------------------------------------

  function renderLag(lag) {
    const body = $('#lag tbody');
    if (lag === null) {
      setNumber('lag.lag_records', null);
      $('#lag-note').textContent = 'unavailable';
      body.replaceChildren();
      return;
    }
    setNumber('lag.lag_records', lag.lag_records);
    $('#lag-note').textContent = lag.lag_seconds === null
      ? 'records behind'
      : `records behind · ${lag.lag_seconds.toFixed(1)} s`;
    const parts = [...lag.partitions].sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
    body.replaceChildren(...parts.map((p) => h('tr', { class: p.lag_records ? 'behind' : '' },
      h('th', { scope: 'row' }, h('span', { class: 'topic', text: `${shortTopic(p.topic)} ` }),
        h('span', { class: 'partition', text: `#${p.partition}` })),
      h('td', { class: 'num', text: fmt(p.committed_offset) }),
      h('td', { class: 'num', text: fmt(p.end_offset) }),
      h('td', { class: 'num', text: fmt(p.lag_records) }),
      h('td', { class: 'num', text: p.lag_seconds === null ? '–' : p.lag_seconds.toFixed(1) }))));
    $('#lag-empty').hidden = parts.length > 0;
  }

  const shortTopic = (topic) => topic.replace(/^.*?\.(?=[a-z]+\.v\d+$)/, '');

  // ---- signals -----------------------------------------------------------------------

  // The newest few, newest first: one request, however long the feed.
  async function refreshSignals() {
    const got = await api('v1/signals', { order: 'newest', limit: SIGNALS_SHOWN });
    renderSignals(got.items);
  }

  // Today's times as a clock, older ones with their date.
  const when = (date) => (date.toDateString() === new Date().toDateString() ? clock : stamp).format(date);

  function renderSignals(latest) {
    const body = $('#signals tbody');
    const empty = $('#signals-empty');
    const label = Object.fromEntries(SIGNAL_KINDS);
    body.replaceChildren(...latest.map((s) => {
      // The installation for an installation's signal, else the customer (the kind says which).
      const who = h('code', {
        title: s.installation_id !== null ? 'installation' : 'customer',
        text: s.installation_id ?? s.customer_id,
      });
      const badge = h('span', { class: 'badge', 'data-kind': s.kind, text: label[s.kind] || s.kind });
      badge.style.setProperty('--tone', COLOURS[s.kind] || '#9aa3ae');
      return h('tr', { 'data-testid': `signal.${s.signal_id}` },
        h('td', { class: 'when' }, h('time', { datetime: s.detected_at, text: when(new Date(s.detected_at)) })),
        h('td', {}, badge),
        h('td', { class: 'who' }, who),
        h('td', { text: s.product_id === null ? '–' : s.product_id }),
        h('td', { class: 'change' }, h('span', { class: 'muted', text: s.previous_status.replace('_', ' ') }),
          ' → ', h('span', { text: s.status.replace('_', ' ') })));
    }));
    empty.hidden = latest.length > 0;
  }

  // ---- history -----------------------------------------------------------------------

  const GROUPS = {
    customers: { key: (l) => l.segment, order: SEGMENTS },
    installations: { key: (l) => l.status, order: INSTALLATION_STATUSES }, // summed over products
    signals: { key: (l) => l.kind, order: SIGNAL_KINDS, bars: true }, // a count per step
  };

  const iso = (seconds) => new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

  function parseDuration(text) {
    const units = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
    let total = 0;
    for (const [, n, unit] of String(text).matchAll(/(\d+)([smhdw])/g)) total += Number(n) * units[unit];
    return total || null;
  }

  function rangeSeconds() {
    const chosen = $('#range').value;
    if (chosen !== 'auto') return Number(chosen);
    // About 150 samples at the recording interval: minutes in the demo, a week when hourly.
    const options = [900, 3600, 21600, 86400, 604800, 2592000];
    const wanted = (state.interval || 3600) * 150;
    return options.find((o) => o >= wanted) || options[options.length - 1];
  }

  async function refreshHistory() {
    const until = Math.floor(Date.now() / 1000);
    if (state.interval === null) {
      // A tiny window to learn the recording interval: the step must be a multiple of it.
      try {
        const probe = await api('v1/history', { metric: 'signals', since: iso(until - 1), until: iso(until) });
        state.interval = parseDuration(probe.interval);
        state.intervalText = probe.interval;
      } catch (err) {
        if (err.status === 404) {
          for (const metric of Object.keys(GROUPS)) noHistory(metric);
          return;
        }
        throw err;
      }
    }
    const learning = state.firstSample === null;
    await drawHistoryFrom(until);
    // The first answer tells where history starts: draw again at once from there.
    if (learning && state.firstSample !== null && state.interval !== null && $('#range').value === 'auto') {
      await drawHistoryFrom(until);
    }
  }

  async function drawHistoryFrom(until) {
    const interval = state.interval;
    let since = until - rangeSeconds();
    if ($('#range').value === 'auto' && state.firstSample !== null) {
      // "auto" starts at the first sample: a young system's history fills the chart
      // instead of being a thin line at the right edge of an empty window.
      since = Math.max(since, Math.min(state.firstSample - interval, until - 8 * interval));
    }
    const stepFor = (points) => interval * Math.max(1, Math.ceil((until - since) / interval / points));
    await Promise.all(Object.entries(GROUPS).map(async ([metric, group]) => {
      const step = stepFor(group.bars ? SIGNAL_BARS : CHART_POINTS);
      try {
        const got = await api('v1/history', { metric, since: iso(since), until: iso(until), step: `${step}s` });
        drawHistory(metric, got, since, until, step);
      } catch (err) {
        if (err.status === 404) noHistory(metric);
        else if (err.status === 422 || err.status === 400) state.interval = null; // learn it again
        else throw err;
      }
    }));
  }

  function noHistory(metric, text = null) {
    const figure = $(`.chart[data-metric="${metric}"]`);
    if (state.charts[metric]) {
      state.charts[metric].destroy();
      delete state.charts[metric];
    }
    const every = state.intervalText ? ` The projector takes a sample every ${state.intervalText}.` : '';
    $('.plot', figure).replaceChildren(h('p', { class: 'empty', text: text || `No history yet.${every}` }));
    $('.latest', figure).replaceChildren();
  }

  // The series of a metric summed by the label that matters here (installations: over
  // products), in the fixed order of their kind.
  function seriesOf(metric, got) {
    const group = GROUPS[metric];
    const sums = new Map(group.order.map(([key]) => [key, got.times.map(() => null)]));
    for (const series of got.series) {
      const key = group.key(series.labels);
      if (!sums.has(key)) sums.set(key, got.times.map(() => null));
      const ys = sums.get(key);
      series.values.forEach((v, i) => {
        if (v !== null) ys[i] = (ys[i] || 0) + v;
      });
    }
    return new Map([...sums].filter(([, ys]) => ys.some((v) => v !== null)));
  }

  function drawHistory(metric, got, since, until, step) {
    const group = GROUPS[metric];
    // A count per step covers (t - step, t]: its bar stands in the middle of that span.
    const shift = group.bars ? step / 2 : 0;
    const xs = got.times.map((t) => Date.parse(t) / 1000 - shift);
    const sums = seriesOf(metric, got);
    const keys = [...sums.keys()];
    if (xs.length === 0 || keys.length === 0) {
      noHistory(metric);
      return;
    }
    if (group.bars && keys.every((key) => sums.get(key).every((v) => !v))) {
      noHistory(metric, 'No churn signals in this range.');
      return;
    }
    if (!group.bars) {
      const first = Math.min(...keys.map((key) => sums.get(key).findIndex((v) => v !== null)));
      state.firstSample = Math.min(state.firstSample ?? Infinity, xs[first]);
    }
    const labels = Object.fromEntries(group.order);
    let ys = keys.map((key) => sums.get(key));
    if (group.bars) {
      // Stacked: each kind drawn as the running total up to it, the tallest first.
      const running = xs.map(() => 0);
      ys = ys.map((values) => values.map((v, i) => (running[i] += v || 0))).reverse();
    }
    const drawn = group.bars ? [...keys].reverse() : keys;
    const data = [xs, ...ys];
    const figure = $(`.chart[data-metric="${metric}"]`);
    const plot = $('.plot', figure);
    const signature = drawn.join('|');
    let chart = state.charts[metric];
    if (chart && chart.signature === signature) {
      chart.setData(data);
      chart.setScale('x', { min: since, max: until });
    } else {
      if (chart) chart.destroy();
      plot.replaceChildren();
      const series = drawn.map((key) => ({ key, label: labels[key] || key }));
      chart = new uPlot(chartOptions(plot, series, group, since, until), data, plot);
      chart.signature = signature;
      state.charts[metric] = chart;
    }
    // How many samples the fullest series has (the test waits for a few).
    plot.dataset.points = String(Math.max(...keys.map((key) => sums.get(key).filter((v) => v !== null).length)));
    // The newest value of each series as text: a chart alone is not readable by everyone.
    $('.latest', figure).replaceChildren(...keys.map((key) => {
      const values = sums.get(key);
      const last = group.bars
        ? values.reduce((sum, v) => sum + (v || 0), 0)
        : [...values].reverse().find((v) => v !== null);
      return h('span', { class: 'latest-item' }, dot(key), `${labels[key] || key} `,
        num(`history.${metric}.${key}`, last ?? null));
    }), group.bars ? h('span', { class: 'muted', text: 'in this range' }) : '');
  }

  // One short label per tick, as precise as the span needs (uPlot's own two-row labels
  // crowd a narrow chart).
  const TICK_FORMATS = [
    [600, new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit', second: '2-digit' })],
    [2 * 86400, new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' })],
    [Infinity, new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' })],
  ];

  function timeLabel(span) {
    const format = TICK_FORMATS.find(([upTo]) => span <= upTo)[1];
    return (seconds) => format.format(new Date(seconds * 1000));
  }

  function chartOptions(plot, series, group, since, until) {
    const axis = {
      stroke: '#6b7480',
      grid: { stroke: '#eef0f3', width: 1 },
      ticks: { stroke: '#dfe3e8', width: 1, size: 4 },
      font: '11px system-ui, sans-serif',
    };
    return {
      width: Math.max(260, plot.clientWidth || 380),
      height: 200,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: {
        x: { time: true, min: since, max: until },
        y: { range: (u, min, max) => [0, Math.max(group.bars ? 2 : 4, Math.ceil(max * 1.12))] },
      },
      axes: [
        { ...axis, space: 70, values: (u, splits) => splits.map(timeLabel(u.scales.x.max - u.scales.x.min)) },
        { ...axis, ticks: { show: false }, size: 40 },
      ],
      series: [
        {},
        ...series.map(({ key, label }) => ({
          label,
          stroke: COLOURS[key] || '#555',
          width: group.bars ? 0 : 2,
          fill: group.bars ? COLOURS[key] : undefined,
          points: { show: false },
          spanGaps: !group.bars,
          paths: group.bars ? uPlot.paths.bars({ size: [0.7, 40], gap: 1 }) : undefined,
        })),
      ],
    };
  }

  function resizeCharts() {
    for (const chart of Object.values(state.charts)) {
      const plot = chart.root.parentElement;
      chart.setSize({ width: Math.max(260, plot.clientWidth), height: 200 });
    }
  }

  // ---- start ---------------------------------------------------------------------------

  function start() {
    $('#key-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const key = $('#key').value.trim();
      if (!key) return;
      if (!/^[\x21-\x7e]+$/.test(key)) { // an HTTP header could not carry it
        showKeyForm('That is not a key: keys are printable ASCII without spaces.');
        return;
      }
      localStorage.setItem(KEY_STORE, key);
      $('#key-error').textContent = '';
      useKey(key);
    });
    $('#forget').addEventListener('click', () => {
      localStorage.removeItem(KEY_STORE);
      showKeyForm('The key is forgotten: this browser no longer holds it.', { refused: false });
    });
    $('#refresh').addEventListener('click', () => refresh());
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) refresh();
    });
    $('#range').addEventListener('change', () => refresh());
    let resizing = null;
    window.addEventListener('resize', () => {
      clearTimeout(resizing);
      resizing = setTimeout(resizeCharts, 150);
    });
    const stored = localStorage.getItem(KEY_STORE);
    if (stored) useKey(stored);
    else showKeyForm();
  }

  start();
})();
