// Helpers both MCP test files use.
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Resolves once `predicate()` holds, polling; rejects after `ms`.
export async function eventually(predicate, ms, what) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (predicate()) return;
    await sleep(20);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}
