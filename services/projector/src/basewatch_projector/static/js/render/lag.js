// How far this projector is behind the broker: the headline and one row per partition.
import { $, h, setNumber } from '../dom.js';
import { fmt } from '../format.js';

// `lag`: the /v1/ops/lag document, or null when it could not be read.
export function renderLag(lag) {
  const body = $('#lag tbody');
  if (lag === null) {
    setNumber('lag.lag_records', null);
    $('#lag-note').textContent = 'unavailable';
    body.replaceChildren();
    return;
  }
  setNumber('lag.lag_records', lag.lag_records);
  $('#lag-note').textContent = lag.lag_seconds === null
    ? 'records behind'
    : `records behind · ${lag.lag_seconds.toFixed(1)} s`;
  const parts = [...lag.partitions].sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  body.replaceChildren(...parts.map((p) => h('tr', { class: p.lag_records ? 'behind' : '' },
    h('th', { scope: 'row' }, h('span', { class: 'topic', text: `${shortTopic(p.topic)} ` }),
      h('span', { class: 'partition', text: `#${p.partition}` })),
    h('td', { class: 'num', text: fmt(p.committed_offset) }),
    h('td', { class: 'num', text: fmt(p.end_offset) }),
    h('td', { class: 'num', text: fmt(p.lag_records) }),
    h('td', { class: 'num', text: p.lag_seconds === null ? '–' : p.lag_seconds.toFixed(1) }))));
  $('#lag-empty').hidden = parts.length > 0;
}

// The topic without its prefix: "basewatch.customers.v1" reads "customers.v1".
const shortTopic = (topic) => topic.replace(/^.*?\.(?=[a-z]+\.v\d+$)/, '');
