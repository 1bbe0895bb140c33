// `ablo mcp` (the stdio bridge) against the MCP SDK's own Streamable HTTP server: the official
// client on one side (StdioClientTransport), the reference server transport on the other, so
// the bridge is checked against both ends of the spec independently of ablo's /mcp.
// Usage: node bridge_test.mjs <path-to-ablo>   (tests/mcp/run.sh runs it)
import assert from 'node:assert/strict';
import { randomUUID, webcrypto } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  LATEST_PROTOCOL_VERSION,
  ListToolsRequestSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { eventually, sleep } from './support.mjs';

// Debian 12's Node 18 has no global Web Crypto, which the SDK's reference server uses.
if (!globalThis.crypto) globalThis.crypto = webcrypto;

const ablo = process.argv[2] ?? process.env.ABLO_BIN;
if (!ablo) {
  console.error('usage: node bridge_test.mjs <path-to-ablo>');
  process.exit(2);
}
const KEY = 'sk_test_bridge_reference';


// A reference MCP server: the SDK's StreamableHTTPServerTransport, one per session, behind a
// bearer check, recording every HTTP request it gets.
function startReferenceServer({ jsonResponses }) {
  const sessions = new Map(); // session id -> { transport, server }
  const requests = []; // { method, session, version, auth, accept }
  const extraTools = [];

  function makeServer() {
    const server = new Server({ name: 'reference', version: '1.0.0' }, { capabilities: { tools: { listChanged: true } } });
    const tool = (name) => ({ name, inputSchema: { type: 'object' } });
    server.setRequestHandler(ListToolsRequestSchema, async () => ({
      tools: ['echo', 'slow', 'add_tool', 'drop_stream', ...extraTools].map(tool),
    }));
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      const args = request.params.arguments ?? {};
      const text = (value) => ({ content: [{ type: 'text', text: String(value) }] });
      switch (request.params.name) {
        case 'echo':
          return text(args.text);
        case 'slow': {
          // Progress on the request's own stream, then the answer. Each step is announced as it
          // starts: the SDK client handles notifications a tick later than responses, so a
          // progress sent together with the result may reach it after its handler is gone.
          const token = request.params._meta?.progressToken;
          for (let step = 1; step <= args.steps; ++step) {
            if (token !== undefined) {
              await extra.sendNotification({
                method: 'notifications/progress',
                params: { progressToken: token, progress: step, total: args.steps, message: `step ${step}` },
              });
            }
            await sleep(args.ms / args.steps);
          }
          return text('slow done');
        }
        case 'add_tool':
          extraTools.push(args.name);
          await server.sendToolListChanged(); // not tied to a request: goes on the GET stream
          return text('added');
        case 'drop_stream':
          sessions.get(extra.sessionId)?.transport.closeStandaloneSSEStream();
          return text('dropped');
        default:
          return { isError: true, content: [{ type: 'text', text: 'unknown tool' }] };
      }
    });
    return server;
  }

  const httpServer = http.createServer(async (req, res) => {
    const session = req.headers['mcp-session-id'];
    requests.push({
      method: req.method,
      session,
      version: req.headers['mcp-protocol-version'],
      auth: req.headers.authorization,
      accept: req.headers.accept,
    });
    if (req.headers.authorization !== `Bearer ${KEY}`) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'unauthorized', message: 'bad key' } }));
      return;
    }
    let entry = session ? sessions.get(session) : undefined;
    if (!entry && !session && req.method === 'POST') {
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: jsonResponses,
        onsessioninitialized: (id) => sessions.set(id, entry),
        onsessionclosed: (id) => sessions.delete(id),
      });
      entry = { transport, server: makeServer() };
      await entry.server.connect(transport);
    }
    if (!entry) {
      res.writeHead(session ? 404 : 400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }));
      return;
    }
    await entry.transport.handleRequest(req, res);
  });
  return new Promise((resolve) => {
    httpServer.listen(0, '127.0.0.1', () => {
      const base = `http://127.0.0.1:${httpServer.address().port}`;
      resolve({
        base,
        requests,
        sessions,
        close: () => new Promise((done) => {
          httpServer.closeAllConnections();
          httpServer.close(done);
        }),
      });
    });
  });
}

async function connectBridge(base, key = KEY, extraArgs = []) {
  const transport = new StdioClientTransport({
    command: ablo,
    args: ['mcp', ...extraArgs],
    env: { ABLO_API_KEY: key, ABLO_API_URL: base },
    stderr: 'pipe',
  });
  const stderr = [];
  transport.stderr?.on('data', (chunk) => stderr.push(String(chunk)));
  const client = new Client({ name: 'bridge-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport, stderr };
}

for (const jsonResponses of [false, true]) {
  describe(`bridge to a reference server answering with ${jsonResponses ? 'JSON bodies' : 'SSE streams'}`, () => {
    let reference;
    let bridge;
    const listChanged = [];

    before(async () => {
      reference = await startReferenceServer({ jsonResponses });
      bridge = await connectBridge(reference.base);
      bridge.client.setNotificationHandler(ToolListChangedNotificationSchema, () => listChanged.push(Date.now()));
    });
    after(async () => {
      await bridge?.client.close();
      await reference?.close();
    });

    test('initialize names the session; later requests carry it, the negotiated version and the key', async () => {
      const { tools } = await bridge.client.listTools();
      assert.deepEqual(tools.map((t) => t.name).slice(0, 4), ['echo', 'slow', 'add_tool', 'drop_stream']);
      const [sessionId] = [...reference.sessions.keys()];
      assert.ok(sessionId, 'the reference server holds a session');
      const posts = reference.requests.filter((r) => r.method === 'POST');
      assert.equal(posts[0].session, undefined, 'initialize goes without a session');
      for (const post of posts.slice(1)) {
        assert.equal(post.session, sessionId);
        assert.equal(post.version, LATEST_PROTOCOL_VERSION, 'the version the server answered initialize with');
        assert.equal(post.auth, `Bearer ${KEY}`);
        assert.equal(post.accept, 'application/json, text/event-stream');
      }
    });

    test('requests run concurrently: a quick call answers while a slow one streams progress', async () => {
      const progress = [];
      let slowDoneAt = 0;
      const slow = bridge.client
        .callTool({ name: 'slow', arguments: { ms: 1500, steps: 3 } }, undefined, {
          onprogress: (p) => progress.push(p),
        })
        .then((result) => {
          slowDoneAt = Date.now();
          return result;
        });
      await sleep(200);
      const echo = await bridge.client.callTool({ name: 'echo', arguments: { text: 'hello' } });
      const echoDoneAt = Date.now();
      assert.equal(echo.content[0].text, 'hello');
      assert.equal(slowDoneAt, 0, 'the echo came back while the slow call was still running');
      const result = await slow;
      assert.equal(result.content[0].text, 'slow done');
      assert.ok(slowDoneAt > echoDoneAt);
      if (jsonResponses) return; // a JSON body carries no progress
      assert.deepEqual(progress.map((p) => p.progress), [1, 2, 3], 'progress notifications before the result');
      assert.equal(progress[0].message, 'step 1');
    });

    test('server notifications come through the GET stream, also after it was dropped and reopened', async () => {
      await eventually(() => reference.requests.some((r) => r.method === 'GET'), 3000, 'the GET stream');
      const get = reference.requests.find((r) => r.method === 'GET');
      assert.equal(get.accept, 'text/event-stream');
      assert.ok(get.session);

      const before = listChanged.length;
      await bridge.client.callTool({ name: 'add_tool', arguments: { name: 'first_new' } });
      await eventually(() => listChanged.length > before, 3000, 'tools/list_changed');
      assert.ok((await bridge.client.listTools()).tools.some((t) => t.name === 'first_new'));

      const getsBefore = reference.requests.filter((r) => r.method === 'GET').length;
      await bridge.client.callTool({ name: 'drop_stream', arguments: {} });
      await eventually(
        () => reference.requests.filter((r) => r.method === 'GET').length > getsBefore,
        4000,
        'the GET stream reopened',
      );
      await sleep(200); // the reopened stream is registered by the server transport
      const afterDrop = listChanged.length;
      await bridge.client.callTool({ name: 'add_tool', arguments: { name: 'second_new' } });
      await eventually(() => listChanged.length > afterDrop, 3000, 'tools/list_changed on the reopened stream');
    });

    test('closing stdin ends the session with DELETE', async () => {
      const [sessionId] = [...reference.sessions.keys()];
      const started = Date.now();
      await bridge.client.close();
      const deleted = reference.requests.find((r) => r.method === 'DELETE');
      assert.ok(deleted, 'a DELETE reached the server');
      assert.equal(deleted.session, sessionId);
      assert.ok(Date.now() - started < 2000, 'the bridge left on EOF, before the SDK had to signal it');
      assert.equal(reference.sessions.size, 0);
      bridge = undefined;
    });
  });
}

describe('bridge concurrency bound', () => {
  test('--max-in-flight 4: eight slow calls run in two waves of four, and all are answered', async () => {
    const reference = await startReferenceServer({ jsonResponses: false });
    const bridge = await connectBridge(reference.base, KEY, ['--max-in-flight', '4']);
    try {
      const started = Date.now();
      const calls = Array.from({ length: 8 }, () =>
        bridge.client.callTool({ name: 'slow', arguments: { ms: 500, steps: 1 } }),
      );
      const results = await Promise.all(calls);
      const elapsed = Date.now() - started;
      assert.ok(results.every((r) => r.content[0].text === 'slow done'));
      assert.ok(elapsed >= 1000, `two waves take two call times, took ${elapsed} ms`);
      assert.ok(elapsed < 1900, `four at once, not one at a time: took ${elapsed} ms`);
    } finally {
      await bridge.client.close();
      await reference.close();
    }
  });
});

describe('bridge failures answer the agent instead of leaving it waiting', () => {
  test('an HTTP error status becomes a JSON-RPC error with the status and the body\'s message', async () => {
    const reference = await startReferenceServer({ jsonResponses: true });
    try {
      await assert.rejects(connectBridge(reference.base, 'sk_test_wrong'), (error) => {
        assert.match(error.message, /HTTP 401: unauthorized: bad key/);
        return true;
      });
    } finally {
      await reference.close();
    }
  });

  test('a session the server no longer knows answers HTTP 404 to the agent (re-initializing is its job)', async () => {
    const reference = await startReferenceServer({ jsonResponses: true });
    const bridge = await connectBridge(reference.base);
    try {
      assert.ok((await bridge.client.listTools()).tools.length > 0);
      reference.sessions.clear(); // the server forgot the session (expired, restarted)
      await assert.rejects(bridge.client.listTools(), /HTTP 404: Session not found/);
    } finally {
      await bridge.client.close();
      await reference.close();
    }
  });

  test('a refused connection becomes a JSON-RPC error', async () => {
    const reference = await startReferenceServer({ jsonResponses: true });
    const base = reference.base;
    await reference.close(); // nothing listens there any more
    const started = Date.now();
    await assert.rejects(connectBridge(base), /connection|refused/i);
    assert.ok(Date.now() - started < 5000);
  });
});
