// The key form and the dashboard: which one shows, and what the form says.
import { $ } from './dom.js';

export function showKeyForm(message = '', { refused = true } = {}) {
  for (const el of document.querySelectorAll('[data-when]')) {
    el.hidden = el.dataset.when !== 'nokey';
  }
  $('#key-error').textContent = message;
  $('#key-error').classList.toggle('note', !refused);
  $('#key').value = '';
  $('#key').focus();
}

export function showDashboard() {
  for (const el of document.querySelectorAll('[data-when]')) {
    el.hidden = el.dataset.when !== 'key';
  }
}

// Why the API refused the key, in words; null when it was not the key's fault.
export function refusal(err) {
  if (err.status === 401) return 'That key was refused: it is not a key this projector knows.';
  if (err.status === 403) return 'That key has no read scope: use a key made with the read scope.';
  return null;
}
