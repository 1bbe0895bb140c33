// The console shell: sign-in, one nav, hash routing to one module per page, and the live
// connection banner. Pages export render(container, params) and return a cleanup function.
import { api, session } from './api.js';
import { liveStream } from './live_stream.js';
import { h } from './dom.js';
import * as models from './pages/models.js';
import * as live from './pages/live.js';
import * as claims from './pages/claims.js';
import * as keys from './pages/keys.js';
import * as webhooks from './pages/webhooks.js';
import * as audit from './pages/audit.js';
import * as schema from './pages/schema.js';

const PAGES = [
  ['models', 'Models', models],
  ['live', 'Live', live],
  ['claims', 'Claims', claims],
  ['keys', 'Keys', keys],
  ['webhooks', 'Webhooks', webhooks],
  ['audit', 'Audit', audit],
  ['schema', 'Schema', schema],
];

const byId = (id) => document.getElementById(id);
let cleanupPage = () => {};

function showSignIn(message) {
  byId('nav').hidden = true;
  byId('page').hidden = true;
  byId('sign-out').hidden = true;
  byId('banner').hidden = true;
  byId('who').textContent = '';
  byId('sign-in').hidden = false;
  const error = byId('sign-in-error');
  error.hidden = !message;
  error.textContent = message ?? '';
}

// Checks the key before anything else is drawn: a refused key leaves only the form and one
// message.
async function signIn(key) {
  session.remember(key);
  try {
    session.identity = await api('/api/auth/identity');
  } catch (failure) {
    session.forget();
    showSignIn(`key refused: ${failure.code}`);
    return;
  }
  byId('sign-in').hidden = true;
  showShell();
}

function showShell() {
  const { participantKind, participantId } = session.identity;
  byId('who').textContent = `${participantKind}:${participantId}${session.privileged ? '' : ' (read-only)'}`;
  byId('sign-out').hidden = false;
  const nav = byId('nav');
  nav.replaceChildren(...PAGES.map(([slug, title]) => h('a', { href: `#/${slug}`, dataset: { page: slug } }, title)));
  nav.hidden = false;
  byId('page').hidden = false;
  liveStream.start();
  route();
}

function showConnection(state) {
  const banner = byId('banner');
  banner.hidden = state === 'idle';
  banner.classList.toggle('live', state === 'live');
  banner.textContent = state === 'live' ? 'live' : state === 'connecting' ? 'connecting…' : 'reconnecting…';
}

function route() {
  if (!session.identity) return;
  const [slug = 'models', ...params] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const page = PAGES.find(([name]) => name === slug) ?? PAGES[0];
  for (const link of byId('nav').children) link.classList.toggle('current', link.dataset.page === page[0]);
  cleanupPage();
  const container = byId('page');
  container.replaceChildren();
  container.dataset.page = page[0];
  cleanupPage = page[2].render(container, params) ?? (() => {});
}

byId('sign-in').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = byId('key');
  const key = input.value.trim();
  input.value = '';
  signIn(key);
});
byId('sign-out').addEventListener('click', () => {
  cleanupPage();
  cleanupPage = () => {};
  liveStream.stop();
  session.forget();
  showSignIn();
});
window.addEventListener('hashchange', route);
liveStream.on('state', showConnection);

if (session.key) signIn(session.key);
else showSignIn();
