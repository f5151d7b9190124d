// The read API: a GET on this origin with the key in use, its JSON or an ApiError.
import { currentKey } from './key.js';

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status; // 0 when the projector did not answer at all
  }
}

export async function api(path, params = {}) {
  const url = new URL(path, document.baseURI);
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined) url.searchParams.set(name, value);
  }
  let response;
  try {
    response = await fetch(url, {
      headers: { Authorization: `Bearer ${currentKey()}`, Accept: 'application/json' },
      cache: 'no-store',
    });
  } catch (err) {
    throw new ApiError(0, 'the projector does not answer');
  }
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const problem = await response.json();
      detail = problem.detail || problem.title || detail;
    } catch (err) { /* not JSON: keep the status text */ }
    throw new ApiError(response.status, detail);
  }
  return response.json();
}
