// The erasure requests this projector applied (GET /v1/erasures), followed with its
// cursor from one refresh to the next: which customers are erased, how many requests
// there were, and the newest few. Each request is read once per key.
import { api } from './api.js';

const PAGE = 1000; // the API's largest page
const PAGES_PER_REFRESH = 10; // a long feed is caught up over a few refreshes
const LATEST = 5;

let cursor = null;
let requests = 0;
const erased = new Set();
let latest = []; // newest first, one per customer: { customer_id, requested_at }

// Another key may read another projector: follow its feed from the start.
export function forgetErasures() {
  cursor = null;
  requests = 0;
  erased.clear();
  latest = [];
}

// What is known after reading what is new; null when the feed could not be read.
export async function followErasures() {
  try {
    for (let page = 0; page < PAGES_PER_REFRESH; page += 1) {
      const got = await api('v1/erasures', { after: cursor, limit: PAGE });
      got.items.forEach(learn);
      cursor = got.next_cursor;
      if (got.items.length < PAGE) break;
    }
  } catch (err) {
    if (err.status === 422) forgetErasures(); // a cursor this projector does not know
    return null;
  }
  return { customers: erased.size, requests, latest, isErased: (id) => erased.has(id) };
}

function learn(item) {
  requests += 1;
  erased.add(item.customer_id);
  latest = [item, ...latest.filter((e) => e.customer_id !== item.customer_id)].slice(0, LATEST);
}
