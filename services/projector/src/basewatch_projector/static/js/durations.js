// Durations as the API writes them (5s, 1h, 1d2h): the history's recording interval.
// Once GET /v1/meta gives the page the interval in seconds, this module goes.

const UNITS = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

export function parseDuration(text) {
  let total = 0;
  for (const [, n, unit] of String(text).matchAll(/(\d+)([smhdw])/g)) total += Number(n) * UNITS[unit];
  return total || null;
}
