// What the charts ask of /v1/history: the range shown, the step between points, and
// the recording interval that the step must be a multiple of.
import { api } from './api.js';
import { $ } from './dom.js';
import { parseDuration } from './durations.js';
import { forgetMeta, meta } from './meta.js';
import { METRICS, drawHistory, noHistory } from './render/history.js';

const CHART_POINTS = 240;
const SIGNAL_BARS = 40;
const RANGES = [900, 3600, 21600, 86400, 604800, 2592000]; // the choices of #range, in seconds

let interval = null; // the history recording interval in seconds, once known
let intervalText = null; // the same as the API writes it (1h, 5s)
let firstSample = null; // the time of the oldest history sample seen (seconds)

// Another key may read another projector: learn its history afresh.
export function forgetHistory() {
  interval = null;
  firstSample = null;
}

export async function refreshHistory() {
  const until = Math.floor(Date.now() / 1000);
  if (interval === null) learnInterval((await meta()).history_interval);
  const learning = firstSample === null;
  await drawHistoryFrom(until);
  // The first answer tells where history starts: draw again at once from there.
  if (learning && firstSample !== null && interval !== null && auto()) {
    await drawHistoryFrom(until);
  }
}

function learnInterval(text) {
  interval = parseDuration(text);
  intervalText = text;
}

async function drawHistoryFrom(until) {
  const since = start(until);
  const stepFor = (points) => interval * Math.max(1, Math.ceil((until - since) / interval / points));
  await Promise.all(Object.entries(METRICS).map(async ([metric, group]) => {
    const step = stepFor(group.bars ? SIGNAL_BARS : CHART_POINTS);
    try {
      const query = { metric, since: iso(since), until: iso(until), step: `${step}s`, ...group.params };
      const got = await api('v1/history', query);
      const first = drawHistory(metric, got, { since, until, step, empty: noHistoryYet() });
      if (first !== null) firstSample = Math.min(firstSample ?? Infinity, first);
    } catch (err) {
      if (err.status === 404) noHistory(metric, noHistoryYet());
      else if (err.status === 422 || err.status === 400) {
        interval = null; // a projector restarted with another interval: ask again
        forgetMeta();
      }
      else throw err;
    }
  }));
}

const auto = () => $('#range').value === 'auto';

function start(until) {
  if (!auto()) return until - Number($('#range').value);
  // About 150 samples at the recording interval: minutes in the demo, a week when hourly.
  const wanted = (interval || 3600) * 150;
  const since = until - (RANGES.find((r) => r >= wanted) || RANGES[RANGES.length - 1]);
  if (firstSample === null) return since;
  // "auto" starts at the first sample: a young system's history fills the chart
  // instead of being a thin line at the right edge of an empty window.
  return Math.max(since, Math.min(firstSample - interval, until - 8 * interval));
}

function noHistoryYet() {
  const every = intervalText ? ` The projector takes a sample every ${intervalText}.` : '';
  return `No history yet.${every}`;
}

const iso = (seconds) => new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
