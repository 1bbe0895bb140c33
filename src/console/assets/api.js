// The console's one way to reach the server: every request carries the signed-in key as a
// bearer header (never in a URL); failures become ApiError with the registry code.
const KEY_STORAGE = 'ablo.console.key';

export const session = {
  key: sessionStorage.getItem(KEY_STORAGE) ?? '',
  identity: null,
  // Only a secret key may write (release, reorder, mint, revoke, enable); a capability token
  // signs in read-only.
  get privileged() { return this.key.startsWith('sk_'); },
  remember(key) { this.key = key; sessionStorage.setItem(KEY_STORAGE, key); },
  forget() { this.key = ''; this.identity = null; sessionStorage.removeItem(KEY_STORAGE); },
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(path, { method = 'GET', body, headers = {} } = {}) {
  const sent = { Authorization: `Bearer ${session.key}`, ...headers };
  if (body !== undefined) sent['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, { method, headers: sent, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch (failure) {
    throw new ApiError(0, 'server_unreachable', String(failure));
  }
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = null; }
  if (!response.ok) {
    const envelope = parsed?.error && typeof parsed.error === 'object' ? parsed.error : parsed ?? {};
    throw new ApiError(response.status, envelope.code ?? `http_${response.status}`, envelope.message ?? text);
  }
  return parsed;
}

// Query strings from an object, skipping empty values.
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.append(name, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
