// Claims: per row the holder, the FIFO line with positions and wait times, the lease counting
// down. Polled every two seconds (the list is bounded by the coordinator's table); the
// countdowns tick locally every second. Release and reorder only with a secret key.
import { api, session } from '../api.js';
import { h, table, duration } from '../dom.js';

const POLL_EVERY_MS = 2000;
const TICK_EVERY_MS = 1000;

export function render(container) {
  const state = { claims: [], error: '', message: '' };
  const area = h('div', { id: 'claims' }, 'loading…');
  const message = h('p', { id: 'claims-message', class: 'notice' });
  container.append(h('h2', {}, 'Claims'), message, area);
  const refresh = async () => {
    try {
      state.claims = (await api('/v1/claims')).data;
      state.error = '';
    } catch (failure) {
      state.error = `claims: ${failure.code}`;
    }
    draw(state, area, refresh, message);
  };
  refresh();
  const poll = setInterval(refresh, POLL_EVERY_MS);
  const tick = setInterval(() => draw(state, area, refresh, message), TICK_EVERY_MS);
  return () => { clearInterval(poll); clearInterval(tick); };
}

// The claims grouped by row, holders first, then the line in order.
function linesOf(claims) {
  const lines = new Map();
  for (const claim of claims) {
    const key = `${claim.target.model}/${claim.target.id}`;
    if (!lines.has(key)) lines.set(key, { model: claim.target.model, id: claim.target.id, holders: [], waiting: [] });
    const line = lines.get(key);
    (claim.status === 'active' ? line.holders : line.waiting).push(claim);
  }
  for (const line of lines.values()) line.waiting.sort((a, b) => (a.position ?? 0) - (b.position ?? 0));
  return [...lines.values()];
}

function draw(state, area, refresh, message) {
  if (state.error) { area.replaceChildren(h('p', { class: 'error' }, state.error)); return; }
  const lines = linesOf(state.claims);
  if (lines.length === 0) { area.replaceChildren(h('p', { class: 'notice', id: 'no-claims' }, 'no claims held or waiting')); return; }
  const now = Date.now();
  const who = (claim) => h('span', {}, h('span', { class: `tag ${claim.participantKind === 'agent' ? 'agent' : 'user'}` }, claim.participantKind), claim.actor);
  area.replaceChildren(table(['row', 'holder', 'lease', 'line', ''], lines.map((line) => [
    `${line.model}/${line.id}`,
    h('span', {}, line.holders.map(who)),
    line.holders.map((claim) => `${duration(claim.expiresAt - now)} left`).join(', '),
    h('ol', { start: 0 }, line.waiting.map((claim, i) => h('li', {},
      who(claim), ` waiting ${duration(now - (claim.declaredAt ?? now))}`,
      session.privileged && i > 0 ? h('button', { type: 'button', class: 'reorder', onclick: () => moveUp(line, i, refresh, message) }, '↑') : null))),
    session.privileged ? h('span', {}, line.holders.map((claim) =>
      h('button', { type: 'button', class: 'release', dataset: { claim: claim.id }, onclick: () => release(claim, refresh, message) }, 'Release'))) : '',
  ])));
}

// The console's own claim is released; anyone else's is preempted (?force=true, secret keys
// only): its holder loses the row and the next in line is granted.
async function release(claim, refresh, message) {
  const path = `/v1/claims/${encodeURIComponent(claim.id)}`;
  try {
    const own = await api(path, { method: 'DELETE' });
    const answer = own.released ? own : await api(`${path}?force=true`, { method: 'DELETE' });
    message.textContent = own.released ? `released ${claim.id}`
      : answer.released ? `preempted ${claim.id} (held by ${claim.actor})` : `${claim.id} had already ended`;
  } catch (failure) {
    message.textContent = `release failed: ${failure.code}`;
  }
  refresh();
}

async function moveUp(line, index, refresh, message) {
  const order = line.waiting.map((claim) => ({ heldBy: claim.actor, claimId: claim.id }));
  [order[index - 1], order[index]] = [order[index], order[index - 1]];
  try {
    await api(`/v1/models/${encodeURIComponent(line.model)}/${encodeURIComponent(line.id)}/claim/reorder`,
      { method: 'POST', body: { order }, headers: { 'Ablo-Protocol-Version': '1' } });
    message.textContent = `moved ${order[index - 1].claimId} up`;
  } catch (failure) {
    message.textContent = `reorder failed: ${failure.code}`;
  }
  refresh();
}
