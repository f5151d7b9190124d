// Small DOM helpers: find and build elements, and write the numbers a test reads back.
import { fmt } from './format.js';

export const $ = (selector, root = document) => root.querySelector(selector);

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') el.className = value;
    else if (name === 'text') el.textContent = value;
    else el.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) el.append(child);
  }
  return el;
}

export function svg(tag, attrs = {}, text = null) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  if (text !== null) el.textContent = text;
  return el;
}

// A number the test reads back: the same data-testid always holds the same value.
export const num = (testid, n, cls = 'n') => h('span', { class: cls, 'data-testid': testid, text: fmt(n) });

export function setNumber(testid, n) {
  for (const el of document.querySelectorAll(`[data-testid="${CSS.escape(testid)}"]`)) {
    el.textContent = fmt(n);
  }
}

// The coloured dot before a category's name.
export function dot(colour) {
  const el = h('span', { class: 'dot', 'aria-hidden': 'true' });
  el.style.background = colour;
  return el;
}
