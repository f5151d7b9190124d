// One refresh of the dashboard: read the API, draw every part, and say when.
import { api } from './api.js';
import { $ } from './dom.js';
import { followErasures } from './erasures.js';
import { clock } from './format.js';
import { meta } from './meta.js';
import { refreshHistory } from './history.js';
import { refreshTrends } from './trends.js';
import { renderErasures } from './render/erasures.js';
import { renderLag } from './render/lag.js';
import { renderOverlap } from './render/overlap.js';
import { renderProducts } from './render/products.js';
import { renderSignals } from './render/signals.js';
import { renderSummary } from './render/summary.js';

export const REFRESH_MS = 5000;
const SIGNALS_SHOWN = 12;
const PRODUCTS_DETAILED = 12;
let refreshes = 0;

// Throws the ApiError of the summary (a refused key among them); the rest draws what it can.
export async function refreshDashboard() {
  // The summary first and alone: a wrong key is told before anything else is drawn.
  const requestedAt = Date.now();
  const summary = await api('v1/summary');
  await meta(); // the words the renderers draw in
  const [lag, products] = await Promise.all([
    api('v1/ops/lag').catch(() => null),
    productDetails(summary),
  ]);
  renderSummary(summary);
  renderOverlap(summary.overlap);
  renderProducts(summary.installed_base.by_product, products, summary.installed_base.more_products);
  // When the summary now shown was asked for: a reader can tell it is fresh.
  $('#refreshed').dataset.summaryRequestedAt = String(requestedAt);
  renderLag(lag);
  await Promise.all([refreshSignals(), refreshHistory(), refreshTrends()]);
  refreshes += 1;
  const refreshed = $('#refreshed');
  refreshed.textContent = `Updated ${clock.format(new Date())} · every ${REFRESH_MS / 1000} s`;
  refreshed.dataset.count = String(refreshes);
  refreshed.classList.remove('stale');
  $('#banner').hidden = true;
}

// The last data stays on the page; the banner says it is not fresh, and why.
export function showStale(err) {
  $('#banner').textContent = `Could not refresh: ${err.message}. Showing the last data; retrying.`;
  $('#banner').hidden = false;
  $('#refreshed').classList.add('stale');
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

// The newest few signals, newest first: one request, however long the feed; and the
// erasures since the last refresh, which mark the customers they name.
async function refreshSignals() {
  const requestedAt = Date.now();
  const [got, erasures] = await Promise.all([
    api('v1/signals', { order: 'newest', limit: SIGNALS_SHOWN }),
    followErasures(),
  ]);
  renderErasures(erasures);
  renderSignals(got.items, erasures);
  // When the erasures now shown were asked for: every one applied before is among them.
  $('#erasures').dataset.requestedAt = String(requestedAt);
}
