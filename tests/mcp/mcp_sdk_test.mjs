// ablo's MCP server (issue 14) as agents see it, through the official TypeScript SDK: a real
// `ablo serve` with a `task` model, SDK Clients over Streamable HTTP (/mcp) and over the stdio
// bridge (`ablo mcp`), a person's WebSocket for presence, and the REST API for outside writes.
// Usage: node mcp_sdk_test.mjs <path-to-ablo>   (tests/mcp/run.sh runs it)
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceUpdatedNotificationSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import WebSocket from 'ws';
import { startAblo } from '../support/node/ablo_server.mjs';
import { eventually, sleep } from './support.mjs';

const ablo = process.argv[2] ?? process.env.ABLO_BIN;
if (!ablo) {
  console.error('usage: node mcp_sdk_test.mjs <path-to-ablo>');
  process.exit(2);
}

const TOOL_NAMES = [
  'get_schema', 'list_records', 'get_model', 'create_model', 'update_model', 'delete_model',
  'claim_model', 'release_claim', 'list_claims', 'wait_for_change', 'tail_logs', 'get_usage',
];
const TRANSPORTS = ['http', 'stdio'];

const field = (type, extra = {}) => ({ type, isOptional: false, isIndexed: false, ...extra });
const model = (key, fields) => ({
  fields,
  relations: {},
  load: 'instant',
  typename: key,
  tenancy: { kind: 'column', column: 'organization_id' },
  plane: 'tenant',
});
const TASK_MODEL = model('task', {
  title: field('string'),
  status: field('enum', { enumValues: ['todo', 'doing', 'done'] }),
});
const SCHEMA = { v: 3, models: { task: TASK_MODEL }, identityRoles: [] };
const SCHEMA_WITH_NOTES = {
  v: 3,
  models: { task: TASK_MODEL, note: model('note', { body: field('string') }) },
  identityRoles: [],
};



// A promise's state without waiting for it.
function track(promise) {
  const tracked = { settled: false, value: undefined, error: undefined, at: 0 };
  tracked.promise = promise.then(
    (value) => Object.assign(tracked, { settled: true, value, at: Date.now() }),
    (error) => Object.assign(tracked, { settled: true, error, at: Date.now() }),
  );
  return tracked;
}

// --- the server ----------------------------------------------------------------------------

// `ablo serve --port 0` in a fresh data directory; resolves with its address and sandbox key.
async function startServer() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ablo-mcp-'));
  const schemaFile = path.join(dir, 'schema.json');
  fs.writeFileSync(schemaFile, JSON.stringify(SCHEMA));
  const server = await startAblo(ablo, ['serve', '--port', '0', '--data-dir', path.join(dir, 'data'), '--schema', schemaFile], 'mcp');
  console.log(`# ablo serve at ${server.base}, log ${server.logFile}`);
  const stopServer = server.stop;
  server.stop = async () => {
    await stopServer();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return server;
}

let server;

async function rest(method, route, body, token = server.key) {
  const response = await fetch(server.base + route, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.status, body: json };
}

// A credential of its own for each agent (a capability exchanged with the sandbox key): each
// is a distinct participant, so their claims contend.
async function exchange(participantKind, participantId) {
  const { status, body } = await rest('POST', '/api/auth/capability', {
    participantKind,
    participantId,
    wideScope: true,
    ttlSeconds: 3600,
  });
  assert.equal(status, 200, `capability exchange: ${JSON.stringify(body)}`);
  return body;
}

// --- MCP clients -----------------------------------------------------------------------------

const openClients = [];

// An SDK Client for agent `name` over `kind` ('http': Streamable HTTP; 'stdio': `ablo mcp`).
async function connectAgent(name, kind) {
  const { token } = await exchange('agent', name);
  const transport =
    kind === 'http'
      ? new StreamableHTTPClientTransport(new URL(`${server.base}/mcp`), {
          requestInit: { headers: { Authorization: `Bearer ${token}` } },
        })
      : new StdioClientTransport({
          command: ablo,
          args: ['mcp'],
          env: { ABLO_API_KEY: token, ABLO_API_URL: server.base },
          stderr: 'inherit',
        });
  const client = new Client({ name, version: '1.0.0' });
  await client.connect(transport);
  const agent = { name, kind, client, listChanged: [], resourceUpdates: [] };
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => agent.listChanged.push(Date.now()));
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) =>
    agent.resourceUpdates.push({ uri: n.params.uri, at: Date.now() }),
  );
  openClients.push(client);
  return agent;
}

// A tool's structured result; a tool failure fails the test with its error.
async function callTool(agent, name, args, options = {}) {
  const result = await agent.client.callTool({ name, arguments: args }, undefined, { timeout: 120000, ...options });
  if (result.isError) {
    throw new Error(`${agent.name} ${name} failed: ${JSON.stringify(result.structuredContent?.error ?? result.content)}`);
  }
  const structured = result.structuredContent ?? JSON.parse(result.content[0].text);
  assert.deepEqual(JSON.parse(result.content[0].text), structured, 'content[0].text is the structured result as JSON');
  return structured;
}

// claim_model that queues; its progress notifications are collected as they come.
function queueClaim(agent, id, extra = {}) {
  const progress = [];
  const claim = track(
    // A grant follows a release within milliseconds; 20 s only bounds a failing run.
    callTool(agent, 'claim_model', { model: 'task', id, waitSeconds: 20, ...extra }, {
      onprogress: (p) => progress.push(p),
    }),
  );
  claim.progress = progress;
  return claim;
}

async function createTask(agent, title) {
  const id = `task_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  await callTool(agent, 'create_model', { model: 'task', id, data: { title, status: 'todo' } });
  return id;
}

before(async () => {
  server = await startServer();
});

after(async () => {
  await Promise.allSettled(openClients.map((client) => client.close()));
  await server?.stop();
});

// --- A: claims and their wait line, over each transport ---------------------------------------

for (const [holderKind, waiterKind] of [TRANSPORTS, [...TRANSPORTS].reverse()]) {
  describe(`A: claims, holder over ${holderKind}, waiters over ${waiterKind}`, () => {
    let agent1;
    let agent2;
    let agent3;
    before(async () => {
      agent1 = await connectAgent(`agent-1-${holderKind}`, holderKind);
      agent2 = await connectAgent(`agent-2-${waiterKind}`, waiterKind);
      agent3 = await connectAgent(`agent-3-${holderKind}`, holderKind);
    });

    test('listTools names every tool', async () => {
      for (const agent of [agent1, agent2]) {
        const names = (await agent.client.listTools()).tools.map((t) => t.name);
        for (const expected of TOOL_NAMES) assert.ok(names.includes(expected), `${agent.kind}: ${expected} in ${names}`);
      }
    });

    test('a queued claim waits with progress, then is granted with the holder\'s write', async () => {
      const id = await createTask(agent1, 'write the report');
      const fetched = await callTool(agent2, 'get_model', { model: 'task', id });
      assert.equal(fetched.data.title, 'write the report');

      const first = await callTool(agent1, 'claim_model', { model: 'task', id });
      assert.equal(first.status, 'granted');
      assert.ok(first.claimId && first.fenceToken !== undefined && first.expiresAt, JSON.stringify(first));

      const second = queueClaim(agent2, id);
      await eventually(() => second.progress.length > 0 || second.settled, 10000, 'a progress notification');
      assert.equal(second.settled, false, `agent 2 waits while agent 1 holds: ${JSON.stringify(second.value ?? second.error?.message)}`);
      assert.equal(typeof second.progress[0].message, 'string');
      assert.match(second.progress[0].message, /\d/, 'the progress message names the queue position');

      // A read is not held up by the claim waiting on the same transport.
      const read = await callTool(agent2, 'get_model', { model: 'task', id });
      assert.equal(read.data.status, 'todo');

      await callTool(agent1, 'update_model', { model: 'task', id, data: { title: 'written by agent 1', status: 'doing' } });
      await sleep(200);
      assert.equal(second.settled, false, 'still waiting until agent 1 releases');
      const released = await callTool(agent1, 'release_claim', { model: 'task', id });
      assert.equal(released.released, true);

      await second.promise;
      assert.ifError(second.error);
      assert.equal(second.value.status, 'granted');
      assert.equal(second.value.data.title, 'written by agent 1', 'the grant carries the row as agent 1 left it');
      assert.ok(second.value.stamp !== undefined);

      // The default readAt is the claim's fresh row: agent 2's update is not stale.
      await callTool(agent2, 'update_model', { model: 'task', id, data: { status: 'done' } });
      const final = await callTool(agent1, 'get_model', { model: 'task', id });
      assert.equal(final.data.status, 'done');
      assert.equal(final.data.title, 'written by agent 1');
      assert.equal((await callTool(agent2, 'release_claim', { model: 'task', id })).released, true);
    });

    test('three agents are granted in queue order', async () => {
      const id = await createTask(agent1, 'fifo');
      assert.equal((await callTool(agent1, 'claim_model', { model: 'task', id })).status, 'granted');
      const second = queueClaim(agent2, id);
      await eventually(() => second.progress.length > 0, 10000, 'agent 2 in the line');
      const third = queueClaim(agent3, id);
      await eventually(() => third.progress.length > 0, 10000, 'agent 3 in the line');
      assert.equal(second.settled || third.settled, false);

      await callTool(agent1, 'release_claim', { model: 'task', id });
      await second.promise;
      assert.equal(second.value?.status, 'granted', String(second.error));
      await sleep(300);
      assert.equal(third.settled, false, 'agent 3 waits behind agent 2');

      await callTool(agent2, 'release_claim', { model: 'task', id });
      await third.promise;
      assert.equal(third.value?.status, 'granted', String(third.error));
      assert.ok(third.at >= second.at);
      await callTool(agent3, 'release_claim', { model: 'task', id });
    });
  });
}

// --- the end of a session releases its claims -----------------------------------------------

describe('session end', () => {
  // The session renews its claims while it lives; once it ends they are released (or lapse at
  // their lease end at the latest). A short lease keeps either within the test's patience.
  const TTL_SECONDS = 4;
  for (const kind of TRANSPORTS) {
    test(`ending an agent's session over ${kind} frees its claims`, async () => {
      const leaving = await connectAgent(`agent-leaving-${kind}`, kind);
      const staying = await connectAgent(`agent-staying-${kind}`, 'http');
      const id = await createTask(leaving, 'left behind');
      const held = await callTool(leaving, 'claim_model', { model: 'task', id, ttlSeconds: TTL_SECONDS });
      assert.equal(held.status, 'granted');
      const tryClaim = () => staying.client.callTool({ name: 'claim_model', arguments: { model: 'task', id, queue: false } });
      assert.equal((await tryClaim()).isError, true, 'held by the other agent: not granted');
      await sleep(TTL_SECONDS * 1000 + 1000);
      assert.equal((await tryClaim()).isError, true, 'a live session renews its claim past the lease');

      // http: the SDK ends a session with an explicit DELETE; stdio: stdin EOF, the bridge sends it.
      if (kind === 'http') await leaving.client.transport.terminateSession();
      const endedAt = Date.now();
      await leaving.client.close();
      let claim;
      while (Date.now() - endedAt < TTL_SECONDS * 1000 + 3000) {
        claim = await tryClaim();
        if (!claim.isError) break;
        await sleep(100);
      }
      assert.notEqual(claim.isError, true, `still held after the session ended: ${JSON.stringify(claim.structuredContent)}`);
      assert.equal(claim.structuredContent.status, 'granted');
      console.log(`# ${kind}: the claim was free ${Date.now() - endedAt} ms after the session ended`);
      await callTool(staying, 'release_claim', { model: 'task', id });
    });
  }
});

// --- B: a person's WebSocket sees an agent's claim in presence --------------------------------

// A 0.9.1-style WebSocket for user `participantId`, started as the SDK starts one.
async function connectPerson(participantId) {
  const session = await exchange('user', participantId);
  const query = new URLSearchParams({ cursor: '' });
  for (const group of session.scope.syncGroups) query.append('syncGroups', group);
  const url = `${server.base.replace(/^http/, 'ws')}/api/sync/ws?${query}`;
  const socket = new WebSocket(url, [`ablo.bearer.${session.token}`, 'ablo.sync.v1']);
  const frames = [];
  socket.on('message', (data) => frames.push(JSON.parse(String(data))));
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  const send = (type, payload) => socket.send(JSON.stringify({ type, payload }));
  send('presence_update', { status: 'online', timezone: 'UTC' });
  send('sync_request', { cursor: null, versions: {}, lastSyncId: 0, capabilities: ['partialBootstrap'] });
  await eventually(() => frames.some((f) => f.type === 'sync_response'), 5000, 'sync_response');
  return { socket, frames };
}

// The claims a presence_update frame lists, in either dialect.
function presenceClaims(frame) {
  if (frame.type !== 'presence_update') return [];
  const payload = frame.payload ?? frame;
  return [...(payload.activeIntents ?? []), ...(payload.activeClaims ?? [])];
}
const namesRow = (claim, id) => claim.entityId === id || claim.target?.id === id;

describe('B: presence', () => {
  test('a person\'s WebSocket sees an agent\'s claim and its release', async () => {
    const agent = await connectAgent('agent-presence', 'http');
    const person = await connectPerson('u1');
    try {
      const id = await createTask(agent, 'watched by a person');
      await callTool(agent, 'claim_model', { model: 'task', id });
      await eventually(
        () => person.frames.some((f) => presenceClaims(f).some((c) => namesRow(c, id))),
        5000,
        `a presence_update naming ${id} (frames seen: ${JSON.stringify(person.frames.map((f) => f.type))})`,
      );
      const seenAt = person.frames.length;
      await callTool(agent, 'release_claim', { model: 'task', id });
      await eventually(
        () =>
          person.frames.slice(seenAt).some(
            (f) => f.type === 'presence_update' && !presenceClaims(f).some((c) => namesRow(c, id) && (c.status ?? 'active') === 'active'),
          ),
        5000,
        'a presence_update without the released claim',
      );
    } finally {
      person.socket.close();
    }
  });
});

// --- C: resource subscriptions ----------------------------------------------------------------

describe('C: resources/subscribe', () => {
  for (const kind of TRANSPORTS) {
    // The target is a notification within 1 s: the time is printed here (and measured by
    // bench/mcp_bench); the test asserts the notification, not a speed, so it holds under the
    // sanitizers too.
    test(`a write by another client notifies a subscriber over ${kind}`, async () => {
      const agent = await connectAgent(`agent-subscriber-${kind}`, kind);
      const id = await createTask(agent, 'subscribed');
      const uri = `ablo://task/${id}`;
      const read = await agent.client.readResource({ uri });
      assert.match(read.contents[0].text, /subscribed/);
      await agent.client.subscribeResource({ uri });
      await sleep(200); // the GET stream that carries the notification is open by now

      const before = agent.resourceUpdates.length;
      const sentAt = Date.now();
      const patched = await rest('PATCH', `/v1/models/task/${id}`, { data: { title: 'patched over REST' } });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      await eventually(() => agent.resourceUpdates.slice(before).some((u) => u.uri === uri), 10000, `updated ${uri}`);
      const update = agent.resourceUpdates.slice(before).find((u) => u.uri === uri);
      console.log(`# ${kind}: resources/updated ${update.at - sentAt} ms after the write was sent`);
    });
  }
});

// --- E: wait_for_change -----------------------------------------------------------------------

describe('E: wait_for_change', () => {
  for (const kind of TRANSPORTS) {
    test(`returns changed:true after another client's write (${kind}), changed:false on timeout`, async () => {
      const agent = await connectAgent(`agent-waiter-${kind}`, kind);
      const id = await createTask(agent, 'watched');

      const quiet = await callTool(agent, 'wait_for_change', { model: 'task', id, timeoutSeconds: 1 });
      assert.equal(quiet.changed, false);

      // A long timeout: `changed: true` can only come from the write (a timeout says false).
      const waiting = track(callTool(agent, 'wait_for_change', { model: 'task', id, timeoutSeconds: 60 }));
      await sleep(300);
      assert.equal(waiting.settled, false);
      const patched = await rest('PATCH', `/v1/models/task/${id}`, { data: { status: 'doing' } });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      await waiting.promise;
      assert.ifError(waiting.error);
      assert.equal(waiting.value.changed, true);
      assert.ok(Array.isArray(waiting.value.changes) && waiting.value.changes.length > 0, JSON.stringify(waiting.value));
    });
  }
});

// --- D: a schema push changes the tools (last: it changes the schema) -------------------------

describe('D: tools/list_changed', () => {
  test('a pushed model reaches create_model\'s enum and every client is told', async () => {
    const agents = await Promise.all(TRANSPORTS.map((kind) => connectAgent(`agent-schema-${kind}`, kind)));
    const enumOf = async (agent) => {
      const tool = (await agent.client.listTools()).tools.find((t) => t.name === 'create_model');
      return tool.inputSchema.properties.model.enum;
    };
    for (const agent of agents) assert.deepEqual(await enumOf(agent), ['task']);
    await sleep(200); // GET streams open

    const pushed = await rest('POST', '/api/schema', { schema: SCHEMA_WITH_NOTES });
    assert.equal(pushed.status, 200, JSON.stringify(pushed.body));
    for (const agent of agents) {
      await eventually(() => agent.listChanged.length > 0, 5000, `tools/list_changed over ${agent.kind}`);
      assert.deepEqual([...(await enumOf(agent))].sort(), ['note', 'task']);
    }
  });
});
