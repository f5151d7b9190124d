// How the page writes numbers, times and amounts: in the reader's locale.

const numbers = new Intl.NumberFormat();
export const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const stamp = new Intl.DateTimeFormat(undefined, {
  month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
});

export const fmt = (n) => (n === null || n === undefined ? '–' : numbers.format(n));

// Today's times as a clock, older ones with their date.
export const when = (date) => (date.toDateString() === new Date().toDateString() ? clock : stamp).format(date);

// Rounded to whole units; the API's exact decimal string is the caller's to show too.
export function money(amount, currency) {
  try {
    return new Intl.NumberFormat(undefined, {
      style: 'currency', currency, maximumFractionDigits: 0,
    }).format(Number(amount));
  } catch (err) { // not an ISO 4217 code this browser knows
    return `${amount} ${currency}`;
  }
}
