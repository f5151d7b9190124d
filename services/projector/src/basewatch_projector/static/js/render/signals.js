// The newest churn signals, newest first.
import { $, h } from '../dom.js';
import { when } from '../format.js';
import { colour, label } from '../vocabulary.js';

export function renderSignals(latest) {
  $('#signals tbody').replaceChildren(...latest.map((s) => {
    // The installation for an installation's signal, else the customer (the kind says which).
    const who = h('code', {
      title: s.installation_id !== null ? 'installation' : 'customer',
      text: s.installation_id ?? s.customer_id,
    });
    const badge = h('span', { class: 'badge', 'data-kind': s.kind, text: label(s.kind) });
    badge.style.setProperty('--tone', colour(s.kind));
    return h('tr', { 'data-testid': `signal.${s.signal_id}` },
      h('td', { class: 'when' }, h('time', { datetime: s.detected_at, text: when(new Date(s.detected_at)) })),
      h('td', {}, badge),
      h('td', { class: 'who' }, who),
      h('td', { text: s.product_id === null ? '–' : s.product_id }),
      h('td', { class: 'change' }, h('span', { class: 'muted', text: s.previous_status.replace('_', ' ') }),
        ' → ', h('span', { text: s.status.replace('_', ' ') })));
  }));
  $('#signals-empty').hidden = latest.length > 0;
}
