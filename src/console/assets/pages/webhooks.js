// Webhook endpoints with their lag (deltas not yet delivered, capped by the server), last error
// and status; enable/disable with a secret key.
import { api, session } from '../api.js';
import { h, table } from '../dom.js';

export function render(container) {
  const area = h('div', { id: 'webhooks' }, 'loading…');
  container.append(h('h2', {}, 'Webhooks'), area);
  load(area);
}

async function load(area) {
  try {
    const endpoints = (await api('/v1/webhook_endpoints')).data;
    area.replaceChildren(endpoints.length === 0 ? h('p', { class: 'notice' }, 'no webhook endpoints') :
      table(['id', 'url', 'status', 'lag', 'last error', 'last success', ''], endpoints.map((endpoint) => [
        endpoint.id, endpoint.url, endpoint.status,
        endpoint.lag === null ? '?' : `${endpoint.lag}${endpoint.lag_capped ? '+' : ''}`,
        endpoint.last_error ?? '', endpoint.last_success_at ?? '',
        session.privileged ? h('button', { type: 'button', onclick: () => toggle(endpoint, area) },
          endpoint.status === 'enabled' ? 'Disable' : 'Enable') : '',
      ])));
  } catch (failure) {
    area.replaceChildren(h('p', { class: 'error' }, `webhooks: ${failure.code}`));
  }
}

async function toggle(endpoint, area) {
  const verb = endpoint.status === 'enabled' ? 'disable' : 'enable';
  try {
    await api(`/v1/webhook_endpoints/${encodeURIComponent(endpoint.id)}/${verb}`, { method: 'POST' });
  } catch (failure) {
    area.prepend(h('p', { class: 'error' }, `${verb} failed: ${failure.code}`));
  }
  load(area);
}
