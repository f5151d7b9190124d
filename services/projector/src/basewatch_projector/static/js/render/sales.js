// Units sold per product in the last steps of the range, and over the whole range.
import { $, h, num } from '../dom.js';
import { clock } from '../format.js';

const STEPS = 6;
const PRODUCTS = 12;

export function renderSales(got) {
  const shown = got.times.map((t, k) => [t, k]).slice(-STEPS);
  $('#sales thead').replaceChildren(h('tr', {},
    h('th', { scope: 'col', text: 'Product' }),
    ...shown.map(([t]) => h('th', { scope: 'col', class: 'num', text: `to ${clock.format(new Date(t))}` })),
    h('th', { scope: 'col', class: 'num', text: 'In this range' })));
  const rows = got.products.slice(0, PRODUCTS).map((p) => h('tr', {},
    h('th', { scope: 'row', text: p.product_id }),
    ...shown.map(([, k]) => h('td', { class: 'num' }, num(`sales.${p.product_id}.${k}`, p.units[k]))),
    h('td', { class: 'num' }, num(`sales.${p.product_id}.total`, p.units.reduce((a, b) => a + b, 0)))));
  if (rows.length === 0) {
    rows.push(h('tr', {}, h('td', { colspan: shown.length + 2, class: 'empty', text: 'Nothing sold in this range.' })));
  }
  $('#sales tbody').replaceChildren(...rows);
}
