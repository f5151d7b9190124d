// The newest churn signals, newest first; a customer erased since is marked so.
import { $, h } from '../dom.js';
import { when } from '../format.js';
import { colour, label } from '../vocabulary.js';
import { erasedTag } from './erasures.js';

// `erasures`: what followErasures() knows, or null when the feed could not be read.
export function renderSignals(latest, erasures) {
  $('#signals tbody').replaceChildren(...latest.map((s) => {
    // The installation for an installation's signal, else the customer (the kind says which).
    const customer = s.installation_id === null;
    const who = h('td', { class: 'who' }, h('code', {
      title: customer ? 'customer' : 'installation',
      text: customer ? s.customer_id : s.installation_id,
    }));
    if (customer && erasures?.isErased(s.customer_id)) who.append(' ', erasedTag());
    const badge = h('span', { class: 'badge', 'data-kind': s.kind, text: label(s.kind) });
    badge.style.setProperty('--tone', colour(s.kind));
    return h('tr', { 'data-testid': `signal.${s.signal_id}` },
      h('td', { class: 'when' }, h('time', { datetime: s.detected_at, text: when(new Date(s.detected_at)) })),
      h('td', {}, badge),
      who,
      h('td', { text: s.product_id === null ? '–' : s.product_id }),
      h('td', { class: 'change' }, h('span', { class: 'muted', text: s.previous_status.replace('_', ' ') }),
        ' → ', h('span', { text: s.status.replace('_', ' ') })));
  }));
  $('#signals-empty').hidden = latest.length > 0;
}
