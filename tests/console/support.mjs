// Starting and stopping the real `ablo serve` for the console tests (the same start-up lines
// tests/mcp parses), plus REST helpers that need only Node's fetch (Node 18 has no global
// WebSocket; the browser side has one).
import { startAblo } from '../support/node/ablo_server.mjs';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A server on `port` (0 = any free one) over `dataDir`; resolves once it prints where it
// listens and its test key.
export async function startServer(ablo, { dataDir, schemaFile, port = 0 }) {
  return startAblo(ablo, ['serve', '--port', String(port), '--data-dir', dataDir, '--schema', schemaFile], 'console');
}

// One REST call with a bearer; the parsed answer, or a thrown error naming the status and body.
export async function rest(server, method, target, { token = server.key, body, headers = {} } = {}) {
  const sent = { Authorization: `Bearer ${token}`, ...headers };
  if (body !== undefined) sent['Content-Type'] = 'application/json';
  const response = await fetch(server.base + target, { method, headers: sent, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${target}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}
