// The installation cohorts as a heat table: a row per install week, a column per week
// since, each cell the installations still in use at its end, shaded by their share.
import { $, h, num } from '../dom.js';

const ROWS = 8;
const COLUMNS = 12;

export function renderCohorts(got) {
  const rows = got.cohorts.filter((c) => c.size > 0).slice(-ROWS);
  const width = Math.min(COLUMNS, Math.max(0, ...rows.map((c) => c.in_use.length)));
  $('#cohorts thead').replaceChildren(h('tr', {},
    h('th', { scope: 'col', text: 'Installed in the week of' }),
    h('th', { scope: 'col', class: 'num', text: 'Installs' }),
    ...Array.from({ length: width }, (_, k) => h('th', { scope: 'col', class: 'num', text: `Week ${k}` }))));
  const body = rows.map((c) => h('tr', {},
    h('th', { scope: 'row', text: c.start }),
    h('td', { class: 'num' }, num(`cohorts.${c.start}.size`, c.size)),
    ...Array.from({ length: width }, (_, k) => cell(c, k))));
  if (body.length === 0) {
    body.push(h('tr', {}, h('td', { colspan: 2, class: 'empty', text: 'No installations in the last 52 weeks.' })));
  }
  $('#cohorts tbody').replaceChildren(...body);
}

function cell(cohort, k) {
  if (k >= cohort.in_use.length) return h('td', {});
  const share = cohort.share[k];
  const td = h('td', { class: 'num heat', title: `${Math.round(share * 100)}% still in use` },
    num(`cohorts.${cohort.start}.${k}`, cohort.in_use[k]));
  td.style.background = `rgba(31, 122, 90, ${(0.08 + 0.72 * share).toFixed(3)})`;
  if (share > 0.55) td.classList.add('dark');
  return td;
}
