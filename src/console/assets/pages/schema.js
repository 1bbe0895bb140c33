// The active schema (version, hash, each model's fields) and the history of pushes, newest first,
// each with what it changed from the one before (GET /v1/schema/versions).
import { api } from '../api.js';
import { h, table } from '../dom.js';

const VERSIONS_SHOWN = 20;

export function render(container) {
  const area = h('div', { id: 'schema' }, 'loading…');
  const history = h('div', { id: 'schema-versions' }, 'loading…');
  container.append(h('h2', {}, 'Schema'), area, h('h3', {}, 'Versions'), history);
  api('/v1/schema').then((schema) => {
    if (!schema.active) { area.replaceChildren(h('p', { class: 'notice' }, 'no schema pushed yet')); return; }
    area.replaceChildren(
      h('p', {}, `version ${schema.version} · ${schema.hash} · pushed ${schema.pushedAt ?? '?'}`),
      ...schema.models.map((model) => h('div', { class: 'panel' }, h('h3', {}, model.key),
        table(['field', 'type', 'optional', 'indexed'], Object.entries(model.fields).map(([name, field]) => [
          name, field.type, field.isOptional ? 'yes' : '', field.isIndexed ? 'yes' : '',
        ])))));
  }).catch((failure) => area.replaceChildren(h('p', { class: 'error' }, `schema: ${failure.code}`)));
  api(`/v1/schema/versions?limit=${VERSIONS_SHOWN}`).then((list) => {
    if (list.data.length === 0) { history.replaceChildren(h('p', { class: 'notice' }, 'no versions yet')); return; }
    history.replaceChildren(...list.data.map(versionPanel),
      list.has_more ? h('p', { class: 'notice' }, `only the newest ${VERSIONS_SHOWN} versions are shown`) : null);
  }).catch((failure) => history.replaceChildren(h('p', { class: 'error' }, `schema versions: ${failure.code}`)));
}

function versionPanel(version) {
  return h('div', { class: 'panel version', dataset: { version: version.version } },
    h('h4', {}, `version ${version.version} · ${version.hash} · pushed ${version.pushedAt ?? '?'} · ${version.models ?? '?'} models`),
    changeLines(version.changes));
}

// One line per step ("add_field weatherReports.humidity"), then the warnings the push was
// forced past and the blockers it backfilled. A version this server build cannot read has no diff.
function changeLines(changes) {
  if (!changes) return h('p', { class: 'notice' }, 'changes unknown (this build cannot read that version)');
  const lines = [
    ...changes.steps.map((step) => h('li', { class: 'step' }, stepText(step))),
    ...changes.warnings.map((issue) => h('li', { class: 'warning' }, `warning ${issue.code}: ${issue.message || target(issue)}`)),
    ...changes.blockers.map((issue) => h('li', { class: 'blocker' }, `blocker ${issue.code}: ${issue.message || target(issue)}`)),
  ];
  if (lines.length === 0) return h('p', { class: 'notice' }, 'no changes');
  return h('ul', { class: 'changes' }, lines);
}

function target({ model, field }) { return field ? `${model}.${field}` : model; }

function stepText(step) {
  const renamed = step.from || step.to ? ` (${step.from} → ${step.to})` : '';
  const backfill = step.backfill !== undefined ? ` backfilled with ${JSON.stringify(step.backfill)}` : '';
  return `${step.kind} ${target(step)}${renamed}${backfill}`;
}
