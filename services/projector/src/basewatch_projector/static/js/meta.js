// What the projector says about itself (GET /v1/meta): the words it answers in and how
// often it samples its history. Asked once per key, before the first draw.
import { api } from './api.js';
import { learnWords } from './vocabulary.js';

let known = null;

export async function meta() {
  if (known === null) {
    known = await api('v1/meta');
    learnWords(known);
  }
  return known;
}

// Another key may read another projector: ask afresh.
export function forgetMeta() {
  known = null;
}
