// Why the bases changed, and what sold: the movements of both bases, the installation
// cohorts, and units sold per product, over the same complete steps.
import { api } from './api.js';
import { $ } from './dom.js';
import { parseDuration } from './durations.js';
import { meta } from './meta.js';
import { renderCohorts } from './render/cohorts.js';
import { renderMovements } from './render/movements.js';
import { renderSales } from './render/sales.js';

const BARS = 24;
const SAMPLES = 150; // the span of the history charts' auto range, in intervals

export async function refreshTrends() {
  const requestedAt = Date.now();
  const interval = parseDuration((await meta()).history_interval);
  if (interval === null) return;
  const step = interval * Math.ceil(SAMPLES / BARS);
  // Complete steps only, ending on a multiple of the step: the same queries until the
  // next step ends (the test reads the API with them).
  const until = Math.floor(Date.now() / 1000 / step) * step;
  const range = { since: iso(until - (BARS - 1) * step), until: iso(until), step: `${step}s` };
  const queries = {
    'movements.installations': ['v1/movements', { base: 'installations', ...range }],
    'movements.customers': ['v1/movements', { base: 'customers', ...range }],
    cohorts: ['v1/cohorts', { base: 'installations', period: 'week' }],
    sales: ['v1/sales', range],
  };
  const [installations, customers, cohorts, sales] = await Promise.all(
    Object.values(queries).map(([path, params]) => api(path, params)),
  );
  renderMovements('installations', installations, step);
  renderMovements('customers', customers, step);
  renderCohorts(cohorts);
  renderSales(sales);
  const section = $('#trends');
  section.dataset.queries = JSON.stringify(queries);
  section.dataset.requestedAt = String(requestedAt); // the test brackets this read
}

const iso = (seconds) => new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
