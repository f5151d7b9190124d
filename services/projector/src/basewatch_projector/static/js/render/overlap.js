// Where the two bases meet: paying customers against installations in use, as a
// picture of two circles and as a list.
import { $, h, num, svg } from '../dom.js';
import { fmt } from '../format.js';

const PAIRS = [
  ['paying_and_active', 'Paying and active', 'bought, and an installation is in use', 'good'],
  ['paying_and_lapsed', 'Paying and lapsed', 'bought, installations gone silent', 'bad'],
  ['paying_never_installed', 'Paying, never installed', 'bought, never installed', 'plain'],
  ['active_not_paying_customers', 'Using, not paying', 'prospects with an installation in use', 'lead'],
  ['active_not_paying_installations', 'Installations in use unpaid', 'owner is a prospect or unknown', 'lead'],
];

export function renderOverlap(o) {
  $('#venn').replaceChildren(venn(o), h('figcaption', {
    class: 'visually-hidden',
    text: 'Customers: paying (left), with an installation in use (right), both (middle).',
  }));
  $('#overlap').replaceChildren(...PAIRS.map(([key, label, note, tone]) => h('div', { class: `pair ${tone}` },
    h('dt', {}, label, h('span', { class: 'bar-note', text: note })),
    h('dd', {}, num(`summary.overlap.${key}`, o[key])))));
}

function venn(o) {
  const onlyPaying = o.paying_and_lapsed + o.paying_never_installed;
  const picture = svg('svg', {
    viewBox: '0 0 440 250', role: 'img',
    'aria-label': `Paying customers: ${onlyPaying} not using anything, ${o.paying_and_active} ` +
      `using a product. Customers using a product without paying: ${o.active_not_paying_customers}.`,
  });
  const text = (x, y, cls, words) => svg('text', { x, y, class: cls, 'text-anchor': 'middle' }, words);
  picture.append(
    svg('circle', { cx: 160, cy: 128, r: 104, class: 'venn-paying' }),
    svg('circle', { cx: 280, cy: 128, r: 104, class: 'venn-using' }),
    text(100, 20, 'venn-title', 'Paying'),
    text(340, 20, 'venn-title', 'Using'),
  );
  // Each region: its count, and two lines that say who it is.
  const regions = [
    [105, onlyPaying, 'lapsed or', 'never installed'],
    [220, o.paying_and_active, 'paying and', 'active'],
    [335, o.active_not_paying_customers, 'using,', 'not paying'],
  ];
  for (const [x, n, first, second] of regions) {
    picture.append(text(x, 128, 'venn-n', fmt(n)), text(x, 150, 'venn-l', first), text(x, 166, 'venn-l', second));
  }
  return picture;
}
