// The audit trail, newest page first, and a check of its hash chain.
import { api, query } from '../api.js';
import { h, table, cellText } from '../dom.js';

export function render(container) {
  const result = h('span', { id: 'verify-result' });
  const verify = h('button', { type: 'button', id: 'verify' }, 'Verify chain');
  verify.addEventListener('click', async () => {
    result.textContent = 'verifying…';
    try {
      const answer = await api('/v1/audit/verify');
      result.className = answer.ok ? 'ok' : 'bad';
      result.textContent = answer.ok ? 'chain intact' : `broken at ${answer.brokenAtSeq}: ${answer.reason}`;
    } catch (failure) {
      result.className = 'bad';
      result.textContent = `verify failed: ${failure.code}`;
    }
  });
  const area = h('div', { id: 'audit' }, 'loading…');
  container.append(h('h2', {}, 'Audit'), h('div', { class: 'toolbar' }, verify, result), area);
  api(`/v1/audit${query({ limit: 50 })}`).then((page) => {
    area.replaceChildren(table(['seq', 'at', 'actor', 'action', 'model', 'summary'], page.data.map((row) => [
      String(row.chainSeq), row.occurredAt, `${row.actorKind}:${row.actorId}`, row.actionType, row.modelName ?? '', cellText(row.diffSummary),
    ])));
  }).catch((failure) => area.replaceChildren(h('p', { class: 'error' }, `audit: ${failure.code}`)));
}
