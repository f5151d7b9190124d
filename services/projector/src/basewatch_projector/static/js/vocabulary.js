// The projector's categories as the page shows them: which there are and in what order
// (`vocabulary`), and the page's own word, colour and note for each (`SHOWN`).
//
// `vocabulary` is the read API's status vocabulary, copied here for now, with the
// API's names. Once GET /v1/meta gives it, the page fills `vocabulary` from that answer
// before it first draws, and nothing else changes: renderers read these lists when they
// draw, never when they load.

export const vocabulary = {
  segments: ['loyal', 'one_time', 'prospect', 'suspect'],
  customer_statuses: ['active', 'lapsed', 'never_installed', 'none'],
  installation_statuses: ['active', 'at_risk', 'churned', 'uninstalled'],
  signal_kinds: [
    'installation.at_risk', 'installation.churned', 'installation.reactivated',
    'installation.uninstalled', 'customer.lapsed', 'customer.reactivated',
  ],
};

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
};
const UNKNOWN_COLOUR = '#9aa3ae';

// A category the page has no word for yet is shown by its name, in grey.
export const label = (key) => SHOWN[key]?.[0] ?? key;
export const colour = (key) => SHOWN[key]?.[1] ?? UNKNOWN_COLOUR;
export const note = (key) => SHOWN[key]?.[2] ?? null;
