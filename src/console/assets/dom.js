// A tiny element builder: text always goes through textContent, never innerHTML, so row data
// cannot inject markup.
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

// A table from column titles and rows of cells; `onRow(index)` makes rows clickable.
export function table(columns, rows, { onRow, onHeader } = {}) {
  const head = h('tr', {}, columns.map((column, i) =>
    h('th', { class: onHeader ? 'sortable' : undefined, onclick: onHeader ? () => onHeader(i) : undefined }, column)));
  const body = rows.map((cells, i) =>
    h('tr', { class: onRow ? 'clickable' : undefined, onclick: onRow ? () => onRow(i) : undefined },
      cells.map((cell) => h('td', { title: typeof cell === 'string' ? cell : undefined }, cell))));
  return h('table', {}, h('thead', {}, head), h('tbody', {}, body));
}

// A cell's text for any JSON value.
export function cellText(value) {
  if (value === null || value === undefined) return '';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

// "3 s", "2 min", "1 h" — for waits and countdowns.
export function duration(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}
