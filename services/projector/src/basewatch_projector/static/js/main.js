// The basewatch page: reads the projector's /v1 API with the read key kept in this
// browser and redraws every few seconds. Plain DOM, no framework, no build step, no
// network beyond this origin (the Content-Security-Policy enforces that).
import { resizeCharts } from './charts.js';
import { REFRESH_MS, refreshDashboard, showStale } from './dashboard.js';
import { $ } from './dom.js';
import { forgetErasures } from './erasures.js';
import { forgetHistory } from './history.js';
import { currentKey, forgetStoredKey, isKeyShaped, setKey, storedKey, storeKey } from './key.js';
import { refusal, showDashboard, showKeyForm } from './login.js';
import { forgetMeta } from './meta.js';
import { every } from './scheduler.js';

const refresher = every(REFRESH_MS, refresh);

async function refresh() {
  const key = currentKey();
  try {
    await refreshDashboard();
  } catch (err) {
    if (currentKey() !== key) return; // forgotten meanwhile
    const message = refusal(err);
    if (message === null) {
      showStale(err);
      return;
    }
    forgetStoredKey();
    askForKey(message);
  }
}

function askForKey(message = '', options = {}) {
  setKey(null);
  refresher.stop();
  showKeyForm(message, options);
}

function open(key) {
  setKey(key);
  forgetMeta();
  forgetHistory();
  forgetErasures();
  showDashboard();
  refresher.start();
}

function enterKey(event) {
  event.preventDefault();
  const key = $('#key').value.trim();
  if (!key) return;
  if (!isKeyShaped(key)) {
    askForKey('That is not a key: keys are printable ASCII without spaces.');
    return;
  }
  storeKey(key);
  $('#key-error').textContent = '';
  open(key);
}

function start() {
  $('#key-form').addEventListener('submit', enterKey);
  $('#forget').addEventListener('click', () => {
    forgetStoredKey();
    askForKey('The key is forgotten: this browser no longer holds it.', { refused: false });
  });
  $('#refresh').addEventListener('click', () => refresher.now());
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) refresher.now();
  });
  $('#range').addEventListener('change', () => refresher.now());
  let resizing = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(resizeCharts, 150);
  });
  const stored = storedKey();
  if (stored) open(stored);
  else askForKey();
}

start();
