// The charts of the bases over time, with the newest value of each series as text
// (a chart alone is not readable by everyone).
import { dropChart, plotChart } from '../charts.js';
import { $, dot, h, num } from '../dom.js';
import { colour, label, vocabulary } from '../vocabulary.js';

// Per metric: the label its series are summed by, and the order of their kinds.
export const METRICS = {
  customers: { key: (l) => l.segment, order: () => vocabulary.segments, bars: false },
  // Summed over the products by the API: one series per status, however many products.
  installations: {
    key: (l) => l.status, order: () => vocabulary.installation_statuses, bars: false,
    params: { per_product: 'false' },
  },
  signals: { key: (l) => l.kind, order: () => vocabulary.signal_kinds, bars: true }, // a count per step
};

const figureOf = (metric) => $(`.chart[data-metric="${metric}"]`);

export function noHistory(metric, text) {
  dropChart(metric);
  const figure = figureOf(metric);
  $('.plot', figure).replaceChildren(h('p', { class: 'empty', text }));
  $('.latest', figure).replaceChildren();
}

// Draws one metric over [since, until]; the time of its first sample, if it has one
// (a count per step has none: it is zero before anything happened).
export function drawHistory(metric, got, { since, until, step, empty }) {
  const group = METRICS[metric];
  // A count per step covers (t - step, t]: its bar stands in the middle of that span.
  const shift = group.bars ? step / 2 : 0;
  const xs = got.times.map((t) => Date.parse(t) / 1000 - shift);
  const sums = seriesOf(group, got);
  const keys = [...sums.keys()];
  if (xs.length === 0 || keys.length === 0) {
    noHistory(metric, empty);
    return null;
  }
  if (group.bars && keys.every((key) => sums.get(key).every((v) => !v))) {
    noHistory(metric, 'No churn signals in this range.');
    return null;
  }
  const figure = figureOf(metric);
  const plot = $('.plot', figure);
  const drawn = group.bars ? [...keys].reverse() : keys;
  const ys = group.bars ? stacked(keys, sums, xs) : keys.map((key) => sums.get(key));
  plotChart(metric, plot, drawn, [xs, ...ys], { since, until, bars: group.bars });
  // How many samples the fullest series has (the test waits for a few).
  plot.dataset.points = String(Math.max(...keys.map((key) => sums.get(key).filter((v) => v !== null).length)));
  $('.latest', figure).replaceChildren(...keys.map((key) => latest(metric, key, sums.get(key), group.bars)),
    group.bars ? h('span', { class: 'muted', text: 'in this range' }) : '');
  if (group.bars) return null;
  return xs[Math.min(...keys.map((key) => sums.get(key).findIndex((v) => v !== null)))];
}

// The series of a metric summed by its group's label (installations: over products),
// in the fixed order of their kind; those with no value at all left out.
function seriesOf(group, got) {
  const sums = new Map(group.order().map((key) => [key, got.times.map(() => null)]));
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

// Stacked bars: each kind drawn as the running total up to it, the tallest first.
function stacked(keys, sums, xs) {
  const running = xs.map(() => 0);
  return keys.map((key) => sums.get(key).map((v, i) => (running[i] += v || 0))).reverse();
}

// A line's newest value, or a count's total over the range.
function latest(metric, key, values, bars) {
  const last = bars
    ? values.reduce((sum, v) => sum + (v || 0), 0)
    : [...values].reverse().find((v) => v !== null);
  return h('span', { class: 'latest-item' }, dot(colour(key)), `${label(key)} `,
    num(`history.${metric}.${key}`, last ?? null));
}
