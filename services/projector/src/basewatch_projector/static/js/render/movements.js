// A base's movements per step: the kinds into it stacked above zero, those out of it
// below, the net as a line; the totals over the range and the size at its end as text.
import { plotChart } from '../charts.js';
import { $, dot, h, num } from '../dom.js';
import { colour, label, vocabulary } from '../vocabulary.js';

export function renderMovements(base, got, step) {
  const figure = $(`.chart[data-movements="${base}"]`);
  const signs = vocabulary.movements[base] || {};
  const kinds = got.movements.filter((m) => m.kind in signs);
  // A count per step covers (t - step, t]: its bar stands in the middle of that span.
  const xs = got.times.map((t) => Date.parse(t) / 1000 - step / 2);
  const up = xs.map(() => 0);
  const down = xs.map(() => 0);
  // Each kind as the running total of its side, drawn from the outermost in.
  const stacks = kinds.map((m) => m.values.map((v, i) => {
    const signed = signs[m.kind] * v;
    if (signed >= 0) return (up[i] += signed);
    return (down[i] += signed);
  }));
  const keys = [...kinds.map((m) => m.kind).reverse(), 'net'];
  const plot = $('.plot', figure);
  plotChart(`movements.${base}`, plot, keys, [xs, ...stacks.reverse(), got.net], {
    since: xs[0] - step / 2, until: xs[xs.length - 1] + step / 2, bars: true, signed: true, lines: ['net'],
  });
  plot.dataset.points = String(xs.length);
  const total = (values) => values.reduce((sum, v) => sum + v, 0);
  const size = [...got.sizes].reverse().find((v) => v !== null) ?? null;
  $('.latest', figure).replaceChildren(
    ...kinds.map((m) => h('span', { class: 'latest-item' }, dot(colour(m.kind)),
      `${label(m.kind)} ${signs[m.kind] < 0 ? '−' : '+'}`, num(`movements.${base}.${m.kind}`, total(m.values)))),
    h('span', { class: 'latest-item' }, 'Net ', num(`movements.${base}.net`, total(got.net))),
    h('span', { class: 'latest-item' }, 'Size now ', num(`movements.${base}.size`, size)),
    h('span', { class: 'muted', text: 'in this range' }),
  );
}
