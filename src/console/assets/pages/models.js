// Models and their rows: one page of 50 at a time (keyset cursors from the server, so a
// table of a million rows costs the same as one of fifty), a filter box, sortable columns, a
// row's history with the writer of each delta. The open page refreshes when a delta of its
// model arrives on the live stream.
import { api, query } from '../api.js';
import { liveStream } from '../live_stream.js';
import { h, table, cellText } from '../dom.js';

const PAGE_SIZE = 50;
const MAX_COLUMNS = 8;
const REFRESH_AT_MOST_EVERY_MS = 1000;

export function render(container, [modelKey]) {
  const state = { alive: true, schema: null, model: null, cursors: [null], orderBy: '', order: 'asc', filter: '', refreshTimer: null, lastRefresh: 0 };
  const side = h('div', { class: 'side', id: 'model-list' }, 'loading…');
  const main = h('div', { class: 'grow' });
  container.append(h('div', { class: 'row' }, side, main));

  api('/v1/schema').then((schema) => {
    if (!state.alive) return;
    state.schema = schema;
    side.replaceChildren(...schema.models.map((model) =>
      h('a', { href: `#/models/${encodeURIComponent(model.key)}`, class: model.key === modelKey ? 'current' : undefined }, model.key)));
    if (schema.models.length === 0) side.replaceChildren('no schema pushed yet');
    state.model = schema.models.find((model) => model.key === modelKey) ?? schema.models[0];
    if (state.model) showModel(state, main);
  }).catch((failure) => main.replaceChildren(h('p', { class: 'error' }, `schema: ${failure.code}`)));

  const stopListening = liveStream.on('deltas', (deltas) => {
    if (state.model && deltas.some((delta) => delta.modelName === state.model.typename)) scheduleRefresh(state, main);
  });
  return () => { state.alive = false; clearTimeout(state.refreshTimer); stopListening(); };
}

function showModel(state, main) {
  const filterBox = h('input', { id: 'row-filter', placeholder: 'field=value, field=value', size: 32 });
  filterBox.addEventListener('change', () => { state.filter = filterBox.value; state.cursors = [null]; loadRows(state, main); });
  const previous = h('button', { id: 'prev-page', type: 'button', onclick: () => { state.cursors.pop(); loadRows(state, main); } }, '‹ prev');
  const next = h('button', { id: 'next-page', type: 'button', onclick: () => { state.cursors.push(state.nextCursor); loadRows(state, main); } }, 'next ›');
  state.controls = { previous, next, status: h('span', { class: 'notice', id: 'page-status' }) };
  state.rowsArea = h('div', { id: 'rows' });
  state.historyArea = h('div', { id: 'history' });
  main.replaceChildren(
    h('h2', {}, state.model.key),
    h('div', { class: 'toolbar' }, filterBox, previous, next, state.controls.status),
    state.rowsArea, state.historyArea);
  loadRows(state, main);
}

// The filter box's "status=ready, location=Oslo" as the list route's equality filters.
function filterParams(text) {
  const params = {};
  for (const part of text.split(/[,&]/)) {
    const at = part.indexOf('=');
    if (at > 0) params[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  return params;
}

async function loadRows(state) {
  const cursor = state.cursors[state.cursors.length - 1];
  const params = { limit: PAGE_SIZE, starting_after: cursor, ...filterParams(state.filter) };
  if (state.orderBy) Object.assign(params, { order_by: state.orderBy, order: state.order });
  let page;
  try {
    page = await api(`/v1/models/${encodeURIComponent(state.model.key)}${query(params)}`);
  } catch (failure) {
    state.rowsArea.replaceChildren(h('p', { class: 'error' }, `rows: ${failure.code}: ${failure.message}`));
    return;
  }
  if (!state.alive) return;
  state.lastRefresh = Date.now();
  state.nextCursor = page.next_cursor;
  state.controls.previous.disabled = state.cursors.length <= 1;
  state.controls.next.disabled = !page.has_more;
  state.controls.status.textContent = `page ${state.cursors.length} · ${page.data.length} rows${page.has_more ? ' · more' : ''}`;
  const fields = ['id', ...Object.keys(state.model.fields).filter((name) => name !== 'id')].slice(0, MAX_COLUMNS);
  const sortMark = (field) => (field === state.orderBy ? (state.order === 'asc' ? ' ▲' : ' ▼') : '');
  state.rowsArea.replaceChildren(table(
    fields.map((field) => field + sortMark(field)),
    page.data.map((row) => fields.map((field) => cellText(row[field]))),
    {
      onHeader: (i) => {
        state.order = state.orderBy === fields[i] && state.order === 'asc' ? 'desc' : 'asc';
        state.orderBy = fields[i];
        state.cursors = [null];
        loadRows(state);
      },
      onRow: (i) => showHistory(state, page.data[i].id),
    }));
}

// Deltas can arrive a thousand a second: refetch the open page at most once a second.
function scheduleRefresh(state) {
  if (state.refreshTimer || !state.rowsArea) return;
  const wait = Math.max(0, state.lastRefresh + REFRESH_AT_MOST_EVERY_MS - Date.now());
  state.refreshTimer = setTimeout(() => { state.refreshTimer = null; if (state.alive) loadRows(state); }, wait);
}

// A row's newest deltas, each with its writer (the delta carries its actor: no join needed).
async function showHistory(state, id) {
  state.historyArea.replaceChildren(h('div', { class: 'panel' }, `history of ${id}: loading…`));
  try {
    const log = await api(`/v1/logs${query({ model: state.model.key, recordId: id, limit: 50 })}`);
    state.historyArea.replaceChildren(h('div', { class: 'panel' },
      h('h3', {}, `history of ${id}`),
      log.data.length === 0 ? h('p', { class: 'notice' }, 'no deltas in the recent log') :
        table(['delta', 'at', 'op', 'writer', 'data'],
          log.data.slice().reverse().map((event) => [String(event.id), event.at, event.op, event.actor ?? '(system)', cellText(event.delta?.data)]))));
  } catch (failure) {
    state.historyArea.replaceChildren(h('p', { class: 'error' }, `history: ${failure.code}`));
  }
}
