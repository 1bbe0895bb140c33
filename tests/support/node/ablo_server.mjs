// The real `ablo serve` for the Node tests (tests/console, tests/mcp): started with the given
// arguments, ready once it prints where it listens and its test key; stopped with SIGTERM (then
// SIGKILL after 10 s). Its log goes to a temporary file; on stop the log's last lines go to the
// test's output (ctest shows it when the test fails) and the file is removed, so passing runs
// leave nothing in the temporary directory.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const kLogLinesShown = 30;

// `name` tells the log files of different tests apart.
export async function startAblo(ablo, args, name) {
  const logFile = path.join(os.tmpdir(), `ablo-${name}-test-${process.pid}-${Date.now()}.log`);
  const log = fs.openSync(logFile, 'w');
  const proc = spawn(ablo, args, { stdio: ['ignore', 'pipe', log] });
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
      const lines = fs.readFileSync(logFile, 'utf8').trimEnd().split('\n');
      const tail = lines.slice(-kLogLinesShown).map((line) => `#   ${line}`).join('\n');
      console.log(`# ablo serve log ${logFile}, last lines:\n${tail}`);
      fs.rmSync(logFile, { force: true });
    },
  };
}
