// The web console in headless Chromium against the real server: sign-in (refused key, secret
// key, read-only capability), rows paged 50 at a time, a row's history, another client's write
// appearing without reload, a claim appearing and disappearing, reconnecting across a server
// restart, and a burst of 1,000+ deltas leaving the tab responsive with a sampling notice.
// Usage: node console_test.mjs <path-to-ablo>   (tests/console/run.sh runs it)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import puppeteer from 'puppeteer-core';
import { rest, sleep, startServer } from './support.mjs';

const ablo = process.argv[2] ?? process.env.ABLO_BIN;
if (!ablo) {
  console.error('usage: node console_test.mjs <path-to-ablo>');
  process.exit(2);
}
const SCREENSHOTS = process.env.ABLO_CONSOLE_SCREENSHOTS === '1';
const DOCS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs');
const WAIT_MS = 15000;
const MODEL = 'weatherReports';

const SCHEMA = {
  v: 3,
  models: {
    weatherReports: {
      fields: {
        location: { type: 'string', isOptional: false, isIndexed: false },
        status: { type: 'enum', enumValues: ['pending', 'ready'], isOptional: false, isIndexed: false },
        forecast: { type: 'string', isOptional: true, isIndexed: false },
      },
      relations: {}, load: 'instant', typename: 'weatherReports',
      tenancy: { kind: 'column', column: 'organization_id' }, plane: 'tenant',
    },
  },
  identityRoles: [],
};

const creates = (ids, data) => ids.map((id) => ({ action: 'create', model: MODEL, id, data: data(id) }));
const rowId = (i) => `r${String(i).padStart(3, '0')}`;

// Resolves once the element matching `selector` contains (or, with absent, no longer contains) `text`.
async function waitForText(page, selector, text, { absent = false, timeout = WAIT_MS } = {}) {
  try {
    await page.waitForFunction((sel, wanted, gone) => {
      const content = document.querySelector(sel)?.textContent ?? '';
      return gone ? !content.includes(wanted) : content.includes(wanted);
    }, { timeout, polling: 50 }, selector, text, absent);
  } catch (failure) {
    const content = await page.$eval(selector, (element) => element.textContent).catch(() => '(no element)');
    throw new Error(`${selector} ${absent ? 'still contains' : 'never contained'} "${text}"; it holds: ${content.slice(0, 400)}`);
  }
}

async function signIn(page, server, key) {
  await page.goto(`${server.base}/console`);
  await page.waitForSelector('#sign-in:not([hidden])');
  await page.type('#key', key);
  await page.click('#sign-in button[type=submit]');
}

async function screenshot(page, name) {
  if (!SCREENSHOTS) return;
  fs.mkdirSync(DOCS, { recursive: true });
  await page.screenshot({ path: path.join(DOCS, `console-${name}.png`) });
}

describe('web console', () => {
  let dir, schemaFile, server, browser, page;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ablo-console-'));
    schemaFile = path.join(dir, 'schema.json');
    fs.writeFileSync(schemaFile, JSON.stringify(SCHEMA));
    server = await startServer(ablo, { dataDir: path.join(dir, 'data'), schemaFile });
    console.log(`# ablo serve at ${server.base}, log ${server.logFile}`);
    browser = await puppeteer.launch({
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
    });
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 760 });
    page.on('pageerror', (failure) => console.log(`# page error: ${failure.message}`));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a refused key shows one message and no console', async () => {
    await signIn(page, server, 'sk_test_not_a_real_key');
    await waitForText(page, '#sign-in-error', 'key refused: ');
    const shown = await page.evaluate(() => ({
      nav: !document.getElementById('nav').hidden,
      page: !document.getElementById('page').hidden,
      stored: sessionStorage.length,
      url: location.href,
    }));
    assert.deepEqual(shown, { nav: false, page: false, stored: 0, url: `${server.base}/console` });
  });

  test('a secret key opens the models page; rows page 50 at a time', async () => {
    const ids = Array.from({ length: 120 }, (_, i) => rowId(i));
    await rest(server, 'POST', '/v1/commits', { body: { operations: creates(ids, (id) => ({ location: `City ${id}`, status: 'pending' })) } });
    await signIn(page, server, server.key);
    await page.waitForSelector('#nav:not([hidden]) a[data-page=models]');
    assert.equal(page.url().includes(server.key), false, 'the key never appears in the URL');
    await waitForText(page, '#rows', 'City r000');
    const countRows = () => page.$$eval('#rows tbody tr', (rows) => rows.length);
    assert.equal(await countRows(), 50);
    assert.equal(await page.$eval('#prev-page', (button) => button.disabled), true);
    await page.click('#next-page');
    await waitForText(page, '#rows', 'City r050');
    assert.equal(await countRows(), 50);
    assert.equal((await page.$eval('#rows', (element) => element.textContent)).includes('City r000'), false);
    await page.click('#next-page');
    await waitForText(page, '#rows', 'City r119');
    assert.equal(await countRows(), 20);
    assert.equal(await page.$eval('#next-page', (button) => button.disabled), true);
    await page.click('#prev-page');
    await waitForText(page, '#rows', 'City r050');
  });

  test('the filter box and a column header narrow and sort the rows', async () => {
    await rest(server, 'PATCH', `/v1/models/${MODEL}/r117`, { body: { status: 'ready' } });
    await page.goto(`${server.base}/console#/models/${MODEL}`);
    await waitForText(page, '#rows', 'City r000');
    await page.type('#row-filter', 'status=ready');
    await page.keyboard.press('Enter');
    await waitForText(page, '#rows', 'City r117');
    const filtered = await page.$$eval('#rows tbody tr', (rows) => rows.map((row) => row.children[2].textContent));
    assert.deepEqual(filtered, ['ready']);
    await page.$eval('#row-filter', (input) => { input.value = ''; input.dispatchEvent(new Event('change')); });
    await waitForText(page, '#rows', 'City r000');
    const header = () => page.$$eval('#rows th', (cells) => cells.findIndex((cell) => cell.textContent.startsWith('location')));
    const clickLocation = async () => page.evaluate((i) => document.querySelectorAll('#rows th')[i].click(), await header());
    await clickLocation();  // ascending
    await waitForText(page, '#rows thead', 'location ▲');
    await clickLocation();  // descending: the last location first
    await waitForText(page, '#rows thead', 'location ▼');
    await waitForText(page, '#rows tbody tr', 'City r119');
  });

  test("another client's write appears on the rows page without reload, with its history", async () => {
    await page.goto(`${server.base}/console#/schema`);  // a fresh models page: unsorted, unfiltered
    await page.goto(`${server.base}/console#/models/${MODEL}`);
    await waitForText(page, '#rows', 'City r000');
    await waitForText(page, '#banner', 'live');
    await rest(server, 'PATCH', `/v1/models/${MODEL}/r001`, { body: { location: 'Patched by REST', status: 'ready' } });
    await waitForText(page, '#rows', 'Patched by REST');
    await page.evaluate(() => [...document.querySelectorAll('#rows tbody tr')]
      .find((row) => row.firstElementChild.textContent === 'r001').click());
    await waitForText(page, '#history', 'history of r001');
    await waitForText(page, '#history', 'Patched by REST');  // loaded ("loading…" comes first)
    const history = await page.$eval('#history', (element) => element.textContent);
    assert.match(history, /create/);
    assert.match(history, /update/);
    assert.match(history, /Patched by REST/);
    await screenshot(page, 'models');
  });

  test("another client's write appears on the live page", async () => {
    await page.click('#nav a[data-page=live]');
    await page.waitForSelector('#live-deltas');
    await rest(server, 'PATCH', `/v1/models/${MODEL}/r002`, { body: { location: 'Live from REST' } });
    await waitForText(page, '#live-deltas', 'Live from REST');
    await waitForText(page, '#live-deltas', 'r002');
  });

  let agentToken;
  test('a claim and its waiting line appear on the claims page and disappear after release', async () => {
    const agent = await rest(server, 'POST', '/v1/capabilities', {
      body: { participantKind: 'agent', participantId: 'agent-7', wideScope: true, ttlSeconds: 3600 },
    });
    agentToken = agent.token;
    // A second claimant asking to queue (claims dialect) waits in the FIFO line.
    const claims = { 'Ablo-Protocol-Version': '1' };
    const line = { description: 'forecasting', queue: true };
    await rest(server, 'POST', `/v1/models/${MODEL}/r005/claim`, { body: line, headers: claims });
    const queued = await rest(server, 'POST', `/v1/models/${MODEL}/r005/claim`, { token: agentToken, body: line, headers: claims });
    assert.equal(queued.status, 'queued');
    await page.click('#nav a[data-page=claims]');
    await waitForText(page, '#claims', `${MODEL}/r005`);
    await waitForText(page, '#claims', 'agent-7 waiting');
    assert.match(await page.$eval('#claims', (element) => element.textContent), /\d+ s left/);
    // A second waiter, then the privileged reorder: the console moves it ahead of agent-7.
    const other = await rest(server, 'POST', '/v1/capabilities', {
      body: { participantKind: 'agent', participantId: 'agent-9', wideScope: true, ttlSeconds: 3600 },
    });
    await rest(server, 'POST', `/v1/models/${MODEL}/r005/claim`, { token: other.token, body: line, headers: claims });
    await waitForText(page, '#claims', 'agent-9 waiting');
    await screenshot(page, 'claims');
    await page.click('#claims button.reorder');
    await waitForText(page, '#claims-message', 'moved');
    const waiting = async () => (await rest(server, 'GET', '/v1/claims')).data
      .filter((claim) => claim.status === 'queued').sort((a, b) => a.position - b.position).map((claim) => claim.actor);
    assert.deepEqual(await waiting(), ['agent-9', 'agent-7']);
    await rest(server, 'DELETE', `/v1/models/${MODEL}/r005/claim`, { token: other.token, headers: claims });
    await waitForText(page, '#claims', 'agent-9', { absent: true });
    // The console's key is the holder's: its Release button ends the claim; the agent moves up.
    await page.click('#claims button.release');
    await waitForText(page, '#claims-message', 'released');
    await waitForText(page, '#claims', 'agent-7 waiting', { absent: true });
    await waitForText(page, '#claims', `${MODEL}/r005`);
    // Now agent-7 holds the row: the secret key's Release preempts someone else's claim.
    await waitForText(page, '#claims-message', 'released');
    await page.waitForFunction(() => document.querySelector('#claims')?.textContent.includes('agent-7')
      && !document.querySelector('#claims')?.textContent.includes('agent-7 waiting'), { timeout: WAIT_MS });
    await page.click('#claims button.release');
    await waitForText(page, '#claims-message', 'preempted');
    await page.waitForSelector('#no-claims', { timeout: WAIT_MS });
  });

  test('a capability token signs in read-only: no write buttons', async () => {
    await rest(server, 'POST', `/v1/models/${MODEL}/r006/claim`, { body: {} });
    const readOnly = await browser.newPage();
    try {
      await signIn(readOnly, server, agentToken);
      await readOnly.waitForSelector('#nav:not([hidden])');
      await waitForText(readOnly, '#who', '(read-only)');
      await readOnly.goto(`${server.base}/console#/claims`);
      await waitForText(readOnly, '#claims', `${MODEL}/r006`);
      assert.equal((await readOnly.$$('#claims button')).length, 0, 'no release or reorder buttons');
      await readOnly.goto(`${server.base}/console#/keys`);
      // A capability lists only the capabilities it exchanged itself for: none here.
      await waitForText(readOnly, '#capabilities', 'no capabilities');
      assert.equal(await readOnly.$('#create-capability'), null, 'no create form');
      assert.equal((await readOnly.$$('#capabilities button.revoke')).length, 0, 'no revoke buttons');
      // The same pages with the secret key do offer them (so the checks above are not vacuous).
      await page.goto(`${server.base}/console#/claims`);
      await page.waitForSelector('#claims button.release', { timeout: WAIT_MS });
      await page.goto(`${server.base}/console#/keys`);
      await page.waitForSelector('#create-capability');
      await page.waitForSelector('#capabilities button.revoke', { timeout: WAIT_MS });
    } finally {
      await readOnly.close();
      await rest(server, 'DELETE', `/v1/models/${MODEL}/r006/claim`);
    }
  });

  test('keys, webhooks, audit and schema pages work with a secret key', async () => {
    await page.goto(`${server.base}/console#/keys`);
    await page.waitForSelector('#create-capability');
    await page.type('#create-capability input[name=participant]', 'agent-from-console');
    await page.click('#create-capability button[type=submit]');
    await waitForText(page, '#keys-message', 'created cap');
    await waitForText(page, '#capabilities', 'agent:agent-from-console');
    const revoked = await page.evaluate(() => {
      const row = [...document.querySelectorAll('#capabilities tbody tr')].find((tr) => tr.textContent.includes('agent-from-console'));
      row.querySelector('button.revoke').click();
      return row.firstElementChild.textContent;
    });
    await waitForText(page, '#keys-message', `revoked ${revoked}`);
    assert.equal((await rest(server, 'GET', `/v1/capabilities/${revoked}`)).status, 'revoked');

    await page.goto(`${server.base}/console#/webhooks`);
    await waitForText(page, '#webhooks', 'no webhook endpoints');
    await page.goto(`${server.base}/console#/audit`);
    await waitForText(page, '#audit', 'capability.revoke');
    await page.click('#verify');
    await waitForText(page, '#verify-result', 'chain intact');
    await page.goto(`${server.base}/console#/schema`);
    await waitForText(page, '#schema', 'version 1');
    await waitForText(page, '#schema', 'location');
    await waitForText(page, '#schema-versions', 'create_model weatherReports');
  });

  test('a schema push shows as a new version with its change', async () => {
    const before = (await rest(server, 'GET', '/v1/schema')).version;
    const withHumidity = structuredClone(SCHEMA);
    withHumidity.models.weatherReports.fields.humidity = { type: 'number', isOptional: true, isIndexed: false };
    const pushed = await rest(server, 'POST', '/api/schema', { body: { schema: withHumidity } });
    assert.equal(pushed.migration.steps[0].kind, 'add_field');
    // The restart test below serves the same file again: keep it equal to the active schema.
    fs.writeFileSync(schemaFile, JSON.stringify(withHumidity));
    await page.goto(`${server.base}/console#/keys`);  // the schema page renders afresh on entry
    await page.goto(`${server.base}/console#/schema`);
    await waitForText(page, '#schema', `version ${before + 1}`);
    await waitForText(page, '#schema', 'humidity');
    const newest = '#schema-versions .version:first-child';
    await waitForText(page, newest, `version ${before + 1}`);
    await waitForText(page, newest, 'add_field weatherReports.humidity');
    const older = await page.$$eval('#schema-versions .version', (panels) => panels.slice(1).map((panel) => panel.textContent));
    assert.equal(older.length, 1, 'the first push is listed under the new one');
    assert.match(older[0], /create_model weatherReports/);
    assert.doesNotMatch(older[0], /humidity/);
  });

  test('an agent connected over WebSocket shows under agents on the live page, and leaves', async () => {
    const agent = await rest(server, 'POST', '/v1/capabilities', {
      body: { participantKind: 'agent', participantId: 'agent-present', wideScope: true, ttlSeconds: 3600 },
    });
    await page.goto(`${server.base}/console#/live`);
    await waitForText(page, '#banner', 'live');
    const section = (title) => page.evaluate((wanted) => {
      const heading = [...document.querySelectorAll('#presence h3')].find((h3) => h3.textContent === wanted);
      return heading?.nextElementSibling?.textContent ?? '';
    }, title);
    assert.doesNotMatch(await section('Agents'), /agent-present/, 'not present before it connects');
    // The agent is another browser tab on the server's origin (Node 18 has no WebSocket): it
    // connects with its token the way the SDK does and says it is online.
    const agentTab = await browser.newPage();
    try {
      await agentTab.goto(`${server.base}/console`);
      await agentTab.evaluate((token) => new Promise((resolve, reject) => {
        const socket = new WebSocket(`ws://${location.host}/api/sync/ws?cursor=`, [`ablo.bearer.${token}`, 'ablo.sync.v1']);
        window.agentSocket = socket;
        socket.onopen = () => {
          socket.send(JSON.stringify({ type: 'sync_request', payload: { cursor: null, versions: {}, capabilities: [] } }));
          socket.send(JSON.stringify({ type: 'presence_update', payload: { status: 'online' } }));
          resolve();
        };
        socket.onerror = () => reject(new Error('the agent socket failed'));
      }), agent.token);
      await page.waitForFunction(() => {
        const heading = [...document.querySelectorAll('#presence h3')].find((h3) => h3.textContent === 'Agents');
        return heading?.nextElementSibling?.textContent.includes('agent-present');
      }, { timeout: WAIT_MS, polling: 50 });
      assert.doesNotMatch(await section('People'), /agent-present/, 'an agent is not listed among people');
      await agentTab.evaluate(() => window.agentSocket.close());
      await page.waitForFunction(() => !document.querySelector('#presence').textContent.includes('agent-present'),
        { timeout: WAIT_MS, polling: 50 });
    } finally {
      await agentTab.close();
    }
  });

  test('the console reconnects after the server restarts', async () => {
    await page.goto(`${server.base}/console#/live`);
    await waitForText(page, '#banner', 'live');
    const { port } = server;
    await server.stop();
    await waitForText(page, '#banner', 'reconnecting…');
    server = await startServer(ablo, { dataDir: path.join(dir, 'data'), schemaFile, port });
    await waitForText(page, '#banner', 'live', { timeout: 30000 });
    await waitForText(page, '#banner', 'reconnecting', { absent: true });
    await rest(server, 'PATCH', `/v1/models/${MODEL}/r003`, { body: { location: 'After the restart' } });
    await waitForText(page, '#live-deltas', 'After the restart');
  });

  test('a burst of 1,000+ deltas in a second leaves the tab responsive and sampled', async () => {
    await waitForText(page, '#banner', 'live');
    const batches = Array.from({ length: 12 }, (_, b) =>
      creates(Array.from({ length: 100 }, (_, i) => `burst-${b}-${i}`), (id) => ({ location: `Burst ${id}`, status: 'pending' })));
    const started = Date.now();
    await Promise.all(batches.map((operations) => rest(server, 'POST', '/v1/commits', { body: { operations } })));
    console.log(`# 1,200 deltas committed in ${Date.now() - started} ms`);
    await waitForText(page, '#live-rate', 'showing a sample');
    await waitForText(page, '#live-deltas', 'Burst burst-');
    const asked = Date.now();
    assert.equal(await page.evaluate(() => 1 + 1), 2);
    const roundTrip = Date.now() - asked;
    assert.ok(roundTrip < 1000, `page.evaluate round trip took ${roundTrip} ms`);
    assert.ok(await page.$$eval('#live-deltas tbody tr', (rows) => rows.length) <= 100, 'the table shows a bounded sample');
    await screenshot(page, 'live');
  });
});
