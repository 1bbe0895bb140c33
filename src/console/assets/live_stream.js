// The console's one WebSocket: the server's own sync protocol (protocol.md §3). It starts at
// the log's head (no backlog: a table of a million rows is never replayed), resumes from the
// last delta seen after a drop, and reconnects with capped exponential backoff.
import { api, session } from './api.js';

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 10_000;
const PING_EVERY_MS = 25_000;

class LiveStream {
  constructor() {
    this.state = 'idle';  // idle | connecting | live | reconnecting
    this.lastSyncId = null;
    this.presence = new Map();  // socket or participant id -> presence payload
    this.listeners = { deltas: new Set(), state: new Set(), presence: new Set() };
    this.retries = 0;
    this.socket = null;
    this.timer = null;
  }

  on(kind, listener) {
    this.listeners[kind].add(listener);
    return () => this.listeners[kind].delete(listener);
  }

  emit(kind, value) {
    for (const listener of this.listeners[kind]) {
      try { listener(value); } catch (failure) { console.error(failure); }
    }
  }

  setState(state) {
    this.state = state;
    this.emit('state', state);
  }

  start() {
    if (this.state === 'idle') this.connect();
  }

  stop() {
    clearTimeout(this.timer);
    this.socket?.close();
    this.socket = null;
    this.presence.clear();
    this.setState('idle');
  }

  async connect() {
    this.setState(this.retries === 0 ? 'connecting' : 'reconnecting');
    try {
      const token = await this.streamToken();
      if (this.lastSyncId === null) this.lastSyncId = await logHead();
      this.open(token);
    } catch {
      this.retryLater();
    }
  }

  // A secret key is exchanged for a capability of the console as a participant (the key itself
  // never travels on the socket); a capability token is used as it is.
  async streamToken() {
    if (!session.privileged) return session.key;
    const minted = await api('/api/auth/capability', {
      method: 'POST', body: { participantKind: 'user', participantId: 'console' },
    });
    return minted.token;
  }

  open(token) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    // The bearer rides in the subprotocol list, as the SDK sends it: never in the URL.
    const socket = new WebSocket(`${scheme}//${location.host}/api/sync/ws?cursor=`, [`ablo.bearer.${token}`, 'ablo.sync.v1']);
    this.socket = socket;
    let ping = null;
    socket.onopen = () => {
      this.retries = 0;
      this.presence.clear();
      socket.send(JSON.stringify({
        type: 'sync_request',
        payload: { cursor: null, versions: {}, lastSyncId: this.lastSyncId, capabilities: ['batchedDeltas'] },
      }));
      ping = setInterval(() => socket.send(JSON.stringify({ type: 'ping' })), PING_EVERY_MS);
      this.setState('live');
    };
    socket.onmessage = (event) => this.receive(event.data);
    socket.onclose = () => {
      clearInterval(ping);
      if (this.socket !== socket) return;  // stopped on purpose
      this.socket = null;
      this.retryLater();
    };
  }

  retryLater() {
    if (this.state === 'idle' && !session.key) return;
    this.setState('reconnecting');
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.retries) * (0.75 + Math.random() * 0.5);
    this.retries += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  receive(text) {
    let frame;
    try { frame = JSON.parse(text); } catch { return; }
    const payload = frame.payload ?? frame;
    if (frame.type === 'delta' || frame.type === 'sync_response') {
      const deltas = Array.isArray(payload.deltas) ? payload.deltas : payload.modelName ? [payload] : [];
      if (deltas.length === 0) return;
      for (const delta of deltas) {
        if (typeof delta.id === 'number' && delta.id > this.lastSyncId) this.lastSyncId = delta.id;
      }
      this.emit('deltas', deltas);
    } else if (frame.type === 'presence_update') {
      this.updatePresence(payload);
    }
  }

  updatePresence(payload) {
    const who = payload.socketId ?? payload.userId;
    if (!who) return;
    if (payload.kind === 'leave' || payload.status === 'offline') this.presence.delete(who);
    else this.presence.set(who, { ...this.presence.get(who), ...payload });
    this.emit('presence', this.presence);
  }
}

// The log position now: where a fresh console starts listening.
async function logHead() {
  const page = await api('/v1/logs?limit=1');
  return Number.parseInt(String(page.next_cursor ?? '0').split('.')[0], 10) || 0;
}

export const liveStream = new LiveStream();
