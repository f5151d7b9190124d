// The projector's categories as the page shows them: which there are and in what order
// (`vocabulary`, the read API's own words from GET /v1/meta), and the page's own word,
// colour and note for each (`SHOWN`). Renderers read these lists when they draw, never
// when they load: meta.js fills them before the first draw.

export const vocabulary = {
  segments: [],
  customer_statuses: [],
  installation_statuses: [],
  signal_kinds: [],
  movements: {}, // per base: kind -> its sign in the net (1 in, -1 out)
};

// Take the lists from an answer of GET /v1/meta.
export function learnWords(meta) {
  for (const name of Object.keys(vocabulary)) vocabulary[name] = meta[name];
}

// The page's word for each category, its colour (one per category, shared by bars,
// charts and badges; see page.css), and a note where the word needs one.
const SHOWN = {
  loyal: ['Loyal', '#1f7a5a', 'bought at least twice'],
  one_time: ['One-time', '#3b82c4', 'bought once'],
  prospect: ['Prospect', '#d08a16', 'uses, never bought'],
  suspect: ['Suspect', '#9aa3ae', 'known, neither'],
  active: ['Active', '#1f9d6b'],
  lapsed: ['Lapsed', '#d64545'],
  never_installed: ['Never installed', '#b07cd8'],
  none: ['No purchase', '#9aa3ae'],
  at_risk: ['At risk', '#e0a21b'],
  churned: ['Churned', '#d64545'],
  uninstalled: ['Uninstalled', '#8b95a1'],
  'installation.at_risk': ['At risk', '#e0a21b'],
  'installation.churned': ['Churned', '#d64545'],
  'installation.reactivated': ['Reactivated', '#1f9d6b'],
  'installation.uninstalled': ['Uninstalled', '#8b95a1'],
  'customer.lapsed': ['Customer lapsed', '#8e4ec6'],
  'customer.reactivated': ['Customer back', '#3b82c4'],
  new: ['New', '#1f7a5a'],
  reactivated: ['Reactivated', '#3b82c4'],
  relabelled: ['Relabelled', '#b07cd8'],
  net: ['Net', '#1d232b'],
};
const UNKNOWN_COLOUR = '#9aa3ae';

// A category the page has no word for yet is shown by its name, in grey.
export const label = (key) => SHOWN[key]?.[0] ?? key;
export const colour = (key) => SHOWN[key]?.[1] ?? UNKNOWN_COLOUR;
export const note = (key) => SHOWN[key]?.[2] ?? null;
