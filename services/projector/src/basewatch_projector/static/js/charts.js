// The charts, drawn by uPlot: index.html loads the vendored build as the global
// `uPlot` before any module runs. One chart per metric, kept while its series stay.
import { colour, label } from './vocabulary.js';

const charts = {};

// Draws `data` ([xs, ...one array per key]) in `plot`, reusing the metric's chart.
// `signed`: values below zero too; `lines`: the keys drawn as a line among bars.
export function plotChart(metric, plot, keys, data, { since, until, bars, signed = false, lines = [] }) {
  const signature = keys.join('|');
  let chart = charts[metric];
  if (chart && chart.signature === signature) {
    chart.setData(data);
    chart.setScale('x', { min: since, max: until });
    return;
  }
  if (chart) chart.destroy();
  plot.replaceChildren();
  chart = new uPlot(chartOptions(plot, keys, { bars, signed, lines, since, until }), data, plot);
  chart.signature = signature;
  charts[metric] = chart;
}

export function dropChart(metric) {
  if (charts[metric]) {
    charts[metric].destroy();
    delete charts[metric];
  }
}

export function resizeCharts() {
  for (const chart of Object.values(charts)) {
    const plot = chart.root.parentElement;
    chart.setSize({ width: Math.max(260, plot.clientWidth), height: 200 });
  }
}

// One short label per tick, as precise as the span needs (uPlot's own two-row labels
// crowd a narrow chart).
const TICK_FORMATS = [
  [600, new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit', second: '2-digit' })],
  [2 * 86400, new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' })],
  [Infinity, new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' })],
];

function timeLabel(span) {
  const format = TICK_FORMATS.find(([upTo]) => span <= upTo)[1];
  return (seconds) => format.format(new Date(seconds * 1000));
}

const AXIS = {
  stroke: '#6b7480',
  grid: { stroke: '#eef0f3', width: 1 },
  ticks: { stroke: '#dfe3e8', width: 1, size: 4 },
  font: '11px system-ui, sans-serif',
};

function yRange(bars, signed) {
  const top = (max) => Math.max(bars ? 2 : 4, Math.ceil(max * 1.12));
  if (!signed) return (u, min, max) => [0, top(max)];
  return (u, min, max) => [Math.min(-2, Math.floor(min * 1.12)), top(max)];
}

function chartOptions(plot, keys, { bars, signed, lines, since, until }) {
  return {
    width: Math.max(260, plot.clientWidth || 380),
    height: 200,
    legend: { show: false },
    cursor: { drag: { x: false, y: false }, points: { size: 6 } },
    scales: {
      x: { time: true, min: since, max: until },
      y: { range: yRange(bars, signed) },
    },
    axes: [
      { ...AXIS, space: 70, values: (u, splits) => splits.map(timeLabel(u.scales.x.max - u.scales.x.min)) },
      { ...AXIS, ticks: { show: false }, size: 40 },
    ],
    series: [{}, ...keys.map((key) => {
      const bar = bars && !lines.includes(key);
      return {
        label: label(key),
        stroke: colour(key),
        width: bar ? 0 : 2,
        fill: bar ? colour(key) : undefined,
        fillTo: 0, // bars below zero hang from it
        points: { show: false },
        spanGaps: !bar,
        paths: bar ? uPlot.paths.bars({ size: [0.7, 40], gap: 1 }) : undefined,
      };
    })],
  };
}
