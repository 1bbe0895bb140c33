// The live delta stream and presence. Deltas go into a bounded ring; the table is redrawn at
// most ten times a second from its newest rows, so a thousand deltas a second cost ten small
// redraws, not a thousand. When more arrive in a second (or between two redraws) than the
// table shows, rows scroll away unread or never reach the screen: the page says it shows a
// sample.
import { liveStream } from '../live_stream.js';
import { h, table, cellText } from '../dom.js';

const RING_SIZE = 500;
const VISIBLE_ROWS = 100;
const REDRAW_EVERY_MS = 100;
const SAMPLE_NOTICE_HOLD_MS = 3000;

export function render(container) {
  const state = { ring: [], arrivals: [], sinceRedraw: 0, sampledAt: 0, paused: false, dirty: true };
  const modelFilter = h('input', { id: 'live-model', placeholder: 'model', size: 14 });
  const participantFilter = h('input', { id: 'live-participant', placeholder: 'participant', size: 14 });
  const pause = h('button', { id: 'live-pause', type: 'button' }, 'Pause');
  pause.addEventListener('click', () => { state.paused = !state.paused; pause.textContent = state.paused ? 'Resume' : 'Pause'; state.dirty = true; });
  for (const input of [modelFilter, participantFilter]) input.addEventListener('input', () => { state.dirty = true; });
  const rate = h('span', { id: 'live-rate', class: 'notice' });
  const deltasArea = h('div', { id: 'live-deltas' });
  const presenceArea = h('div', { id: 'presence', class: 'side' });
  container.append(h('div', { class: 'row' },
    h('div', { class: 'grow' }, h('div', { class: 'toolbar' }, modelFilter, participantFilter, pause, rate), deltasArea),
    presenceArea));

  const stopDeltas = liveStream.on('deltas', (deltas) => {
    const now = Date.now();
    for (const delta of deltas) {
      state.ring.push(delta);
      state.arrivals.push(now);
    }
    if (state.ring.length > RING_SIZE) state.ring.splice(0, state.ring.length - RING_SIZE);
    state.sinceRedraw += deltas.length;
    state.dirty = true;
  });
  const stopPresence = liveStream.on('presence', () => drawPresence(presenceArea));
  drawPresence(presenceArea);
  const timer = setInterval(() => redraw(state, { modelFilter, participantFilter, rate, deltasArea }), REDRAW_EVERY_MS);
  return () => { clearInterval(timer); stopDeltas(); stopPresence(); };
}

function redraw(state, view) {
  const now = Date.now();
  while (state.arrivals.length && state.arrivals[0] < now - 1000) state.arrivals.shift();
  if (state.arrivals.length > RING_SIZE * 4) state.arrivals.splice(0, state.arrivals.length - RING_SIZE * 4);
  if (!state.paused && (state.sinceRedraw > VISIBLE_ROWS || state.arrivals.length > VISIBLE_ROWS)) state.sampledAt = now;
  const sampling = now - state.sampledAt < SAMPLE_NOTICE_HOLD_MS;
  view.rate.textContent = `${state.arrivals.length} deltas/s${sampling ? ', showing a sample' : ''}${state.paused ? ' · paused' : ''}`;
  if (state.paused || !state.dirty) return;
  state.dirty = false;
  state.sinceRedraw = 0;
  const model = view.modelFilter.value.trim().toLowerCase();
  const participant = view.participantFilter.value.trim().toLowerCase();
  const shown = [];
  for (let i = state.ring.length - 1; i >= 0 && shown.length < VISIBLE_ROWS; i--) {
    const delta = state.ring[i];
    if (model && !String(delta.modelName).toLowerCase().includes(model)) continue;
    if (participant && !actorOf(delta).toLowerCase().includes(participant)) continue;
    shown.push(delta);
  }
  view.deltasArea.replaceChildren(shown.length === 0 ? h('p', { class: 'notice' }, 'waiting for deltas…') :
    table(['id', 'at', 'model', 'row', 'op', 'writer', 'data'],
      shown.map((delta) => [String(delta.id), delta.createdAt ?? '', delta.modelName, delta.modelId, delta.actionType, actorOf(delta), cellText(delta.data)])));
}

function actorOf(delta) {
  const actor = delta.actor ?? delta.createdBy;
  if (!actor) return '';
  return typeof actor === 'object' ? `${actor.kind}:${actor.id}` : String(actor);
}

// Who is connected, people and agents apart.
function drawPresence(area) {
  const everyone = [...liveStream.presence.values()];
  const isAgent = (peer) => peer.isAgent === true || peer.participantKind === 'agent';
  const list = (peers, kind) => peers.length === 0 ? h('p', { class: 'notice' }, 'none') :
    h('ul', {}, peers.map((peer) => h('li', {}, h('span', { class: `tag ${kind}` }, kind), peer.userId ?? '?', ' ', h('span', { class: 'notice' }, peer.status ?? ''))));
  area.replaceChildren(
    h('h3', {}, 'People'), list(everyone.filter((peer) => !isAgent(peer)), 'user'),
    h('h3', {}, 'Agents'), list(everyone.filter(isAgent), 'agent'));
}
