// Keys and capabilities: GET /v1/capabilities, 50 a page, newest first, filtered by status.
// Create and revoke need a secret key.
import { api, session, query } from '../api.js';
import { h, table } from '../dom.js';

const LISTED = 50;

export function render(container) {
  const area = h('div', { id: 'capabilities' }, 'loading…');
  const message = h('p', { id: 'keys-message', class: 'notice' });
  container.append(h('h2', {}, 'Keys & capabilities'), message);
  if (session.privileged) container.append(createForm(message, () => load(area, message)));
  container.append(area);
  load(area, message);
}

function createForm(message, reload) {
  const kind = h('select', { name: 'kind' }, h('option', {}, 'agent'), h('option', {}, 'system'));
  const participant = h('input', { name: 'participant', placeholder: 'participant id', required: true });
  const groups = h('input', { name: 'groups', placeholder: 'sync groups, comma separated', size: 24 });
  const operations = h('input', { name: 'operations', placeholder: 'operations (model.read, …)', size: 24 });
  const hours = h('input', { name: 'hours', type: 'number', min: 1, value: 24, size: 4, title: 'lifetime in hours' });
  const form = h('form', { class: 'toolbar', id: 'create-capability' }, kind, participant, groups, operations, hours, 'h',
    h('button', { type: 'submit' }, 'Create'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const list = (input) => input.value.split(',').map((item) => item.trim()).filter(Boolean);
    const body = { participantKind: kind.value, participantId: participant.value, ttlSeconds: Math.max(1, Number(hours.value) || 24) * 3600 };
    // The server asks for a narrow scope (groups and operations) or an explicit wide one.
    if (list(groups).length || list(operations).length) Object.assign(body, { syncGroups: list(groups), operations: list(operations) });
    else body.wideScope = true;
    try {
      const minted = await api('/v1/capabilities', { method: 'POST', body });
      message.textContent = `created ${minted.id}; its token (shown once): ${minted.token}`;
      reload();
    } catch (failure) {
      message.textContent = `create failed: ${failure.code}: ${failure.message}`;
    }
  });
  return form;
}

// One page of GET /v1/capabilities (newest first): a secret key sees its tenant's, a
// capability the ones it exchanged itself for. `view.after` is the cursor of the shown page.
async function load(area, message, view = { status: '', after: [] }) {
  const statusPicker = h('select', { id: 'capability-status', onchange: () => load(area, message, { status: statusPicker.value, after: [] }) },
    ...['', 'active', 'revoked'].map((status) => h('option', { value: status, selected: status === view.status }, status || 'any status')));
  try {
    const cursor = view.after.at(-1);
    const page = await api(`/v1/capabilities${query({ limit: LISTED, status: view.status, starting_after: cursor })}`);
    const records = page.data;
    const last = records.at(-1)?.id;
    const pager = h('div', { class: 'toolbar' }, statusPicker,
      h('button', { type: 'button', id: 'capabilities-newer', disabled: view.after.length === 0,
        onclick: () => load(area, message, { status: view.status, after: view.after.slice(0, -1) }) }, '← newer'),
      h('button', { type: 'button', id: 'capabilities-older', disabled: !page.has_more,
        onclick: () => load(area, message, { status: view.status, after: [...view.after, last] }) }, 'older →'));
    area.replaceChildren(pager, records.length === 0 ? h('p', { class: 'notice' }, 'no capabilities') :
      table(['id', 'participant', 'sync groups', 'operations', 'status', 'issued', 'expires', ''], records.map((record) => [
        record.id, `${record.participantKind}:${record.participantId}`, record.syncGroups.join(', '),
        record.operations.join(', '), record.status, record.issuedAt ?? '', record.expiresAt ?? '',
        session.privileged && record.status === 'active'
          ? h('button', { type: 'button', class: 'revoke', onclick: () => revoke(record.id, area, message, view) }, 'Revoke') : '',
      ])));
  } catch (failure) {
    area.replaceChildren(statusPicker, h('p', { class: 'error' }, `capabilities: ${failure.code}`));
  }
}

async function revoke(id, area, message, view) {
  try {
    await api(`/v1/capabilities/${encodeURIComponent(id)}`, { method: 'DELETE' });
    message.textContent = `revoked ${id}`;
  } catch (failure) {
    message.textContent = `revoke failed: ${failure.code}`;
  }
  load(area, message, view);
}
