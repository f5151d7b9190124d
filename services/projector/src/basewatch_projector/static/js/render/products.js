// The installed base by product and version: sales, revenue, and installations by status.
import { $, h, num } from '../dom.js';
import { money } from '../format.js';
import { colour, label, vocabulary } from '../vocabulary.js';

// `details`: the /v1/products document of each product shown in detail, by id;
// `more`: the summary names only the first products, and there are others.
export function renderProducts(byProduct, details, more) {
  const counted = ['installations', ...vocabulary.installation_statuses];
  $('#products thead').replaceChildren(head(counted));
  const rows = [];
  for (const p of byProduct) {
    const id = p.product_id;
    const detail = id === null ? null : details.get(id);
    rows.push(h('tr', { class: 'product' },
      h('th', { scope: 'row' }, h('span', { class: id === null ? 'unknown' : '', text: id ?? 'no product yet' })),
      h('td', { class: 'num' }, detail ? num(`product.${id}.units_sold`, detail.units_sold) : '–'),
      h('td', { class: 'money' }, detail ? revenue(detail.revenue) : '–'),
      ...counts(`summary.installed_base.by_product.${id ?? '~'}`, counted, p),
      h('td', { class: 'mix-col' }, mix(p))));
    for (const v of detail ? detail.versions : []) {
      rows.push(h('tr', { class: 'version' },
        h('th', { scope: 'row' }, h('span', { class: 'version-name', text: v.version ?? 'no version' })),
        h('td', {}), h('td', {}),
        ...counts(`product.${id}.version.${v.version ?? '~'}`, counted, v),
        h('td', { class: 'mix-col' }, mix(v))));
    }
  }
  if (more) {
    rows.push(h('tr', { class: 'more' }, h('td', {
      colspan: counted.length + 4, class: 'empty', text: `Only the first ${byProduct.length} products are shown.`,
    })));
  }
  if (rows.length === 0) {
    rows.push(h('tr', {}, h('td', { colspan: counted.length + 4, class: 'empty', text: 'No installations yet.' })));
  }
  $('#products tbody').replaceChildren(...rows);
}

// The columns: the installation statuses are the vocabulary's, in its order.
function head(counted) {
  return h('tr', {},
    h('th', { scope: 'col', text: 'Product / version' }),
    h('th', { scope: 'col', class: 'num', text: 'Sold' }),
    h('th', { scope: 'col', text: 'Revenue' }),
    ...counted.map((key) => h('th', {
      scope: 'col', class: 'num', text: key === 'installations' ? 'Installations' : label(key),
    })),
    h('th', { scope: 'col', class: 'mix-col', text: 'Mix' }));
}

function counts(testids, keys, of) {
  return keys.map((key) => h('td', { class: 'num' }, num(`${testids}.${key}`, of[key])));
}

// The share of each status among the installations, as one bar.
function mix(of) {
  const bar = h('span', { class: 'mix', role: 'presentation' });
  for (const key of vocabulary.installation_statuses) {
    if (!of.installations || !of[key]) continue;
    const part = h('span', {});
    part.style.width = `${(100 * of[key]) / of.installations}%`;
    part.style.background = colour(key);
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
