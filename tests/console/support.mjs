// Starting and stopping the real `ablo serve` for the console tests (the same start-up lines
// tests/mcp parses), plus REST helpers that need only Node's fetch (Node 18 has no global
// WebSocket; the browser side has one).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A server on `port` (0 = any free one) over `dataDir`; resolves once it prints where it
// listens and its test key.
export async function startServer(ablo, { dataDir, schemaFile, port = 0 }) {
  const logFile = path.join(os.tmpdir(), `ablo-console-test-${process.pid}-${Date.now()}.log`);
  const log = fs.openSync(logFile, 'w');
  const proc = spawn(ablo, ['serve', '--port', String(port), '--data-dir', dataDir, '--schema', schemaFile], {
    stdio: ['ignore', 'pipe', log],
  });
  let printed = '';
  const { base, key } = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ablo serve did not start in 30 s; log: ${logFile}`)), 30000);
    proc.on('exit', (code) => reject(new Error(`ablo serve exited with ${code}; log: ${logFile}`)));
    proc.stdout.on('data', (chunk) => {
      printed += chunk;
      const listening = printed.match(/listening on (http:\/\/\S+)/)?.[1];
      const testKey = printed.match(/test API key: (sk_test_\S+)/)?.[1];
      if (listening && testKey) {
        clearTimeout(timer);
        resolve({ base: listening, key: testKey });
      }
    });
  });
  return {
    base,
    key,
    port: Number(new URL(base).port),
    logFile,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGTERM');
        await Promise.race([exited, sleep(10000)]);
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      }
      fs.closeSync(log);
      // The log's end goes to the test's output (ctest shows it when the test fails) and the
      // file away, so that passing runs leave nothing in the temporary directory.
      const lines = fs.readFileSync(logFile, 'utf8').trimEnd().split('\n');
      console.log(`# ablo serve log ${logFile}, last lines:\n${lines.slice(-30).map((line) => `#   ${line}`).join('\n')}`);
      fs.rmSync(logFile, { force: true });
    },
  };
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
