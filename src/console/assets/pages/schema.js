// The active schema: version, hash, and each model's fields. (The server keeps no readable
// history of pushes yet, so versions and diffs are not shown.)
import { api } from '../api.js';
import { h, table } from '../dom.js';

export function render(container) {
  const area = h('div', { id: 'schema' }, 'loading…');
  container.append(h('h2', {}, 'Schema'), area);
  api('/v1/schema').then((schema) => {
    if (!schema.active) { area.replaceChildren(h('p', { class: 'notice' }, 'no schema pushed yet')); return; }
    area.replaceChildren(
      h('p', {}, `version ${schema.version} · ${schema.hash} · pushed ${schema.pushedAt ?? '?'}`),
      ...schema.models.map((model) => h('div', { class: 'panel' }, h('h3', {}, model.key),
        table(['field', 'type', 'optional', 'indexed'], Object.entries(model.fields).map(([name, field]) => [
          name, field.type, field.isOptional ? 'yes' : '', field.isIndexed ? 'yes' : '',
        ])))));
  }).catch((failure) => area.replaceChildren(h('p', { class: 'error' }, `schema: ${failure.code}`)));
}
