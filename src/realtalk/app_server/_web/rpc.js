// JSON-RPC over the app-server WebSocket (one message per text frame, no "jsonrpc"
// member), with the token offered as a subprotocol (browsers cannot set headers).

export const JSONRPC_PROTOCOL = "realtalk.jsonrpc";
export const BEARER_PREFIX = "realtalk.bearer.";
const REQUEST_TIMEOUT_MS = 30000;

export function base64url(text) {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export class RpcError extends Error {
  constructor(method, error) {
    super(`${method} failed (${error.code}): ${error.message}`);
    this.code = error.code;
  }
}

// handlers: { notification(method, params), request(method, params, id) -> Promise<result>,
//             closed(event) }
export class Rpc {
  constructor(url, token, handlers) {
    this.url = url;
    this.token = token;
    this.handlers = handlers;
    this.nextId = 1;
    this.pending = new Map();
    this.ws = null;
  }

  connect() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, [JSONRPC_PROTOCOL, BEARER_PREFIX + base64url(this.token)]);
      this.ws = ws;
      let opened = false;
      ws.onopen = () => {
        opened = true;
        resolve();
      };
      ws.onmessage = (event) => this.receive(event.data);
      ws.onclose = (event) => {
        for (const { reject: fail, timer } of this.pending.values()) {
          clearTimeout(timer);
          fail(new Error("the app-server connection closed"));
        }
        this.pending.clear();
        if (opened) this.handlers.closed(event);
        else reject(new Error("the app-server refused the connection (wrong or missing token?)"));
      };
    });
  }

  receive(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      console.warn("realtalk: unreadable message from the app-server");
      return;
    }
    if (message.method !== undefined) {
      if (message.id === undefined) this.handlers.notification(message.method, message.params || {});
      else this.answer(message.id, message.method, message.params || {});
      return;
    }
    const waiting = this.pending.get(message.id);
    if (waiting === undefined) return;
    this.pending.delete(message.id);
    clearTimeout(waiting.timer);
    if (message.error) waiting.reject(new RpcError(waiting.method, message.error));
    else waiting.resolve(message.result);
  }

  async answer(id, method, params) {
    // A request from the server (an approval question): answer it, whatever happens.
    let reply;
    try {
      reply = { id, result: await this.handlers.request(method, params, id) };
    } catch (error) {
      const code = error.code === undefined ? -32603 : error.code;
      reply = { id, error: { code, message: error.message } };
    }
    try {
      this.send(reply);
    } catch {
      // The connection is gone: there is nobody left to answer.
    }
  }

  request(method, params) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no answer within ${REQUEST_TIMEOUT_MS / 1000} s`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer, method });
      try {
        this.send({ id, method, params });
      } catch (error) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(error);
      }
    });
  }

  notify(method, params) {
    this.send(params === undefined ? { method } : { method, params });
  }

  send(message) {
    if (this.ws === null || this.ws.readyState !== WebSocket.OPEN) {
      throw new Error("not connected to the app-server");
    }
    this.ws.send(JSON.stringify(message));
  }
}
