// The headline numbers, and the customer base and installed base as bars by category.
import { $, dot, h, num, setNumber } from '../dom.js';
import { colour, label, note, vocabulary } from '../vocabulary.js';

export function renderSummary(s) {
  const cb = s.customer_base;
  const ib = s.installed_base;
  setNumber('summary.customer_base.total', cb.total);
  setNumber('summary.installed_base.total', ib.total);
  for (const [key, value] of Object.entries(s.overlap)) setNumber(`summary.overlap.${key}`, value);

  const everyone = vocabulary.segments.reduce((sum, key) => sum + (cb.by_segment[key] || 0), 0);
  bars($('#segments'), vocabulary.segments, cb.by_segment, 'summary.customer_base.by_segment', everyone);
  bars($('#customer-statuses'), vocabulary.customer_statuses, cb.by_status, 'summary.customer_base.by_status', everyone);
  const installations = vocabulary.installation_statuses.reduce((sum, key) => sum + ib.by_status[key], 0);
  bars($('#installation-statuses'), vocabulary.installation_statuses, ib.by_status,
    'summary.installed_base.by_status', installations);
}

// One bar per key, as wide as its share of `total`.
function bars(list, keys, counts, testids, total) {
  list.replaceChildren(...keys.map((key) => {
    const value = counts[key];
    const fill = h('span', { class: value ? 'fill' : 'fill zero' });
    fill.style.width = `${total ? (100 * value) / total : 0}%`;
    fill.style.background = colour(key);
    return h('li', {},
      h('span', { class: 'bar-label' }, dot(colour(key)), label(key),
        note(key) ? h('span', { class: 'bar-note', text: note(key) }) : null),
      h('span', { class: 'track', 'aria-hidden': 'true' }, fill),
      num(`${testids}.${key}`, value, 'n bar-value'));
  }));
}
