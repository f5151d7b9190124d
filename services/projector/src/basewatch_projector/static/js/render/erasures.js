// Erased customers: how many (a headline number) and the newest few, each marked.
import { $, h, setNumber } from '../dom.js';
import { fmt, when } from '../format.js';

// `erasures`: what followErasures() knows, or null when the feed could not be read.
export function renderErasures(erasures) {
  if (erasures === null) {
    setNumber('erasures.customers', null);
    $('#erasures-note').textContent = 'unavailable';
    return;
  }
  setNumber('erasures.customers', erasures.customers);
  const asked = erasures.requests === 1 ? 'request' : 'requests';
  $('#erasures-note').textContent = `customers forgotten · ${fmt(erasures.requests)} ${asked}`;
  $('#erasures').replaceChildren(...erasures.latest.map((e) => h('li', { 'data-customer': e.customer_id },
    h('code', { text: e.customer_id }), ' ', erasedTag(),
    h('time', { class: 'muted', datetime: e.requested_at, text: when(new Date(e.requested_at)) }))));
  $('#erasures-empty').hidden = erasures.latest.length > 0;
}

// The mark of an erased customer, in place of anything personal.
export const erasedTag = () => h('span', {
  class: 'tag erased', 'data-testid': 'erased', title: 'erased: personal data forgotten', text: 'erased',
});
