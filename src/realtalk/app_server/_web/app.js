// The realtalk page: one app-server thread, WebRTC media between this browser and the
// model (the app-server relays the SDP offer and answer), and a live transcript and
// agent panel drawn from the app-server's notifications. Plain JS, no dependencies.
//
// Auth: the token arrives in the URL fragment (never sent to a server), moves to
// sessionStorage, and is offered as a WebSocket subprotocol (see _web.py).
"use strict";

const TOKEN_KEY = "realtalk.token";
const JSONRPC_PROTOCOL = "realtalk.jsonrpc";
const BEARER_PREFIX = "realtalk.bearer.";
const REQUEST_TIMEOUT_MS = 30000;
const ICE_GATHERING_TIMEOUT_MS = 5000;
const STATS_INTERVAL_MS = 500;

const $ = (id) => document.getElementById(id);

// -- auth ------------------------------------------------------------------------------

function takeToken() {
  const fromUrl = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function base64url(text) {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// -- JSON-RPC over the app-server WebSocket ----------------------------------------------

class RpcError extends Error {
  constructor(method, error) {
    super(`${method} failed (${error.code}): ${error.message}`);
    this.code = error.code;
  }
}

class Rpc {
  constructor(url, token, onNotification, onClose) {
    this.url = url;
    this.token = token;
    this.onNotification = onNotification;
    this.onClose = onClose;
    this.nextId = 1;
    this.pending = new Map();
    this.ws = null;
  }

  connect() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, [JSONRPC_PROTOCOL, BEARER_PREFIX + base64url(this.token)]);
      this.ws = ws;
      let opened = false;
      ws.onopen = () => { opened = true; resolve(); };
      ws.onmessage = (event) => this.receive(event.data);
      ws.onclose = (event) => {
        for (const { reject: fail, timer } of this.pending.values()) {
          clearTimeout(timer);
          fail(new Error("the app-server connection closed"));
        }
        this.pending.clear();
        if (opened) this.onClose(event);
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
    if (message.method !== undefined && message.id === undefined) {
      this.onNotification(message.method, message.params || {});
      return;
    }
    const waiting = this.pending.get(message.id);
    if (waiting === undefined) return;
    this.pending.delete(message.id);
    clearTimeout(waiting.timer);
    if (message.error) waiting.reject(new RpcError(waiting.method, message.error));
    else waiting.resolve(message.result);
  }

  request(method, params) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no answer within ${REQUEST_TIMEOUT_MS / 1000} s`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer, method });
      this.send({ id, method, params });
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

// -- the page's state --------------------------------------------------------------------

const app = {
  rpc: null,
  threadId: null,
  pc: null,
  mic: null,
  running: false,
  starting: null, // Promise of a start in progress
  startWait: null, // { resolve, reject } until thread/realtime/started or a failure
  live: { user: null, assistant: null },
  agent: { turnId: null, startedAt: 0, timer: null, answer: "" },
  statsTimer: null,
};

function setStatus(text, state = "ok") {
  const status = $("status");
  status.textContent = text;
  status.dataset.state = state;
}

// -- transcript --------------------------------------------------------------------------

function addLine(kind, text) {
  const line = document.createElement("li");
  line.className = kind;
  line.textContent = text;
  $("transcript").append(line);
  scrollTranscript();
  return line;
}

function scrollTranscript() {
  const list = $("transcript");
  list.scrollTop = list.scrollHeight;
}

function liveLine(role) {
  let line = app.live[role];
  if (line === null) {
    line = addLine(`${role} live`, "");
    line.dataset.text = "";
    app.live[role] = line;
  }
  return line;
}

function transcriptDelta(role, delta) {
  const line = liveLine(role);
  line.dataset.text += delta;
  line.textContent = line.dataset.text;
  scrollTranscript();
}

function transcriptDone(role, text) {
  const line = liveLine(role);
  line.textContent = text;
  line.classList.remove("live");
  delete line.dataset.text;
  app.live[role] = null;
  scrollTranscript();
}

// -- agent panel -------------------------------------------------------------------------

function taskText(text) {
  // A delegation is wrapped in <realtime_delegation><input>…</input>…; show the words.
  const match = /<input>([\s\S]*?)<\/input>/.exec(text);
  const words = match ? match[1] : text.replace(/<\/?[a-z_]+>/g, " ");
  return words.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&").trim();
}

function agentState(state, status) {
  $("agent").dataset.state = state;
  $("agent-status").textContent = status;
}

function agentTask(text) {
  $("agent-task").textContent = text;
}

function seconds(since) {
  const elapsed = (performance.now() - since) / 1000;
  return elapsed < 10 ? `${elapsed.toFixed(2)} s` : `${elapsed.toFixed(0)} s`;
}

function agentStarted(turnId) {
  const agent = app.agent;
  agent.turnId = turnId;
  agent.startedAt = performance.now();
  agent.answer = "";
  $("agent-answer").textContent = "";
  $("agent-command").hidden = true;
  $("agent-command").textContent = "";
  $("agent-cancel").disabled = false;
  clearInterval(agent.timer);
  const tick = () => agentState("working", `working · ${seconds(agent.startedAt)}`);
  tick();
  agent.timer = setInterval(tick, 200);
}

function agentAnswer(text) {
  app.agent.answer = text;
  $("agent-answer").textContent = text;
}

function agentCommand(text, append) {
  const box = $("agent-command");
  box.hidden = false;
  box.textContent = append ? (box.textContent + text).slice(-4000) : text;
  box.scrollTop = box.scrollHeight;
}

function agentEnded(turn) {
  const agent = app.agent;
  clearInterval(agent.timer);
  agent.timer = null;
  agent.turnId = null;
  $("agent-cancel").disabled = true;
  const took = seconds(agent.startedAt);
  if (turn.status === "completed") agentState("done", `done in ${took}`);
  else if (turn.status === "interrupted") agentState("interrupted", `cancelled after ${took}`);
  else agentState("failed", `failed after ${took}: ${turn.error ? turn.error.message : "unknown error"}`);
}

// -- notifications -----------------------------------------------------------------------

function onNotification(method, params) {
  if (params.threadId !== undefined && params.threadId !== app.threadId) return;
  switch (method) {
    case "thread/realtime/started":
      app.running = true;
      setStatus(`talking (${params.version})`);
      settleStart(null);
      break;
    case "thread/realtime/sdp":
      if (app.pc !== null) {
        app.pc.setRemoteDescription({ type: "answer", sdp: params.sdp }).catch((error) => {
          addLine("error", `could not use the model's SDP answer: ${error.message}`);
        });
      }
      break;
    case "thread/realtime/transcript/delta":
      transcriptDelta(params.role, params.delta);
      break;
    case "thread/realtime/transcript/done":
      transcriptDone(params.role, params.text);
      break;
    case "thread/realtime/itemAdded":
      onItemAdded(params.item);
      break;
    case "thread/realtime/error":
      if (app.startWait !== null) settleStart(new Error(`could not start: ${params.message}`));
      else addLine("error", params.message);
      break;
    case "thread/realtime/closed":
      conversationClosed(params.reason);
      break;
    case "turn/started":
      agentStarted(params.turn.id);
      break;
    case "item/started":
      onItemStarted(params.item);
      break;
    case "item/agentMessage/delta":
      agentAnswer(app.agent.answer + params.delta);
      break;
    case "item/commandExecution/outputDelta":
      agentCommand(params.delta, true);
      break;
    case "item/completed":
      if (params.item.type === "agentMessage") agentAnswer(params.item.text);
      break;
    case "turn/completed":
      agentEnded(params.turn);
      break;
    case "error":
      if (params.error) addLine("error", `agent: ${params.error.message}`);
      break;
    default:
      break;
  }
}

function onItemAdded(item) {
  if (item.type === "handoff_request") {
    agentTask(item.input_transcript);
  } else if (item.type === "input_audio_buffer.speech_started") {
    liveLine("user"); // keeps the order: the words arrive after the model starts
  }
}

function onItemStarted(item) {
  if (item.type === "userMessage" && $("agent-task").textContent === "") {
    agentTask(taskText(item.content.map((part) => part.text || "").join(" ")));
  } else if (item.type === "commandExecution" && item.command) {
    agentCommand(`$ ${[].concat(item.command).join(" ")}\n`, false);
  }
}

function settleStart(error) {
  const wait = app.startWait;
  app.startWait = null;
  if (wait === null) return;
  if (error === null) wait.resolve();
  else wait.reject(error);
}

function conversationClosed(reason) {
  settleStart(new Error(`the conversation closed while starting (${reason || "ended"})`));
  app.running = false;
  stopMedia();
  for (const line of Object.values(app.live)) if (line !== null) line.classList.remove("live");
  app.live = { user: null, assistant: null };
  setStatus(`conversation closed (${reason || "ended"})`, reason === "error" ? "error" : "ok");
  $("start").disabled = false;
  $("stop").disabled = true;
}

// -- media -------------------------------------------------------------------------------

function iceGatheringComplete(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== "complete") return;
      pc.removeEventListener("icegatheringstatechange", done);
      clearTimeout(timer);
      resolve();
    };
    // Without trickle ICE the offer must carry the candidates; gathering on loopback
    // or a LAN takes milliseconds, and what was found after the bound still goes out.
    const timer = setTimeout(() => {
      pc.removeEventListener("icegatheringstatechange", done);
      resolve();
    }, ICE_GATHERING_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", done);
  });
}

async function openMicrophone() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    addLine("info", "this browser gives no microphone here (it needs http://localhost or https): type instead");
    return null;
  }
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    addLine("info", `no microphone (${error.name}): type instead`);
    return null;
  }
}

async function startTalking() {
  $("start").disabled = true;
  setStatus("starting…");
  app.mic = await openMicrophone();
  const pc = new RTCPeerConnection();
  app.pc = pc;
  if (app.mic !== null) {
    for (const track of app.mic.getAudioTracks()) pc.addTrack(track, app.mic);
  } else {
    pc.addTransceiver("audio", { direction: "recvonly" });
  }
  pc.createDataChannel("oai-events"); // the model's event channel (the page reads the app-server's)
  pc.ontrack = (event) => {
    const speaker = $("speaker");
    speaker.srcObject = event.streams[0] || new MediaStream([event.track]);
    speaker.play().catch(() => addLine("info", "click the page to hear the answer (autoplay is blocked)"));
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === "failed") addLine("error", "the media connection to the model failed");
  };
  await pc.setLocalDescription(await pc.createOffer());
  await iceGatheringComplete(pc);
  const started = new Promise((resolve, reject) => { app.startWait = { resolve, reject }; });
  await app.rpc.request("thread/realtime/start", {
    threadId: app.threadId,
    outputModality: "audio",
    transport: { type: "webrtc", sdp: pc.localDescription.sdp },
  });
  $("stop").disabled = false;
  watchMedia();
  await started;
}

function stopMedia() {
  clearInterval(app.statsTimer);
  app.statsTimer = null;
  if (app.pc !== null) app.pc.close();
  app.pc = null;
  if (app.mic !== null) for (const track of app.mic.getTracks()) track.stop();
  app.mic = null;
  $("speaker").srcObject = null;
  $("media").textContent = "";
}

function watchMedia() {
  // What really flows, from the browser's own counters: the model's audio received
  // and played, and the microphone audio sent.
  const meter = $("media");
  app.statsTimer = setInterval(async () => {
    const pc = app.pc;
    if (pc === null) return;
    let received = 0;
    let energy = 0;
    let sent = 0;
    for (const report of (await pc.getStats()).values()) {
      if (report.type === "inbound-rtp" && report.kind === "audio") {
        received = report.totalSamplesDuration || 0;
        energy = report.totalAudioEnergy || 0;
      } else if (report.type === "outbound-rtp" && report.kind === "audio") {
        sent = report.bytesSent || 0;
      }
    }
    meter.dataset.receivedSeconds = received.toFixed(2);
    meter.dataset.receivedEnergy = energy.toPrecision(3);
    meter.dataset.sentBytes = String(sent);
    const mic = app.mic === null ? "no mic" : `mic ${(sent / 1024).toFixed(0)} KiB sent`;
    meter.textContent = `${pc.connectionState} · ${mic} · model audio ${received.toFixed(1)} s`;
  }, STATS_INTERVAL_MS);
}

async function ensureStarted() {
  if (app.running) return;
  if (app.starting === null) {
    app.starting = startTalking().finally(() => { app.starting = null; });
  }
  await app.starting;
}

// -- user actions ------------------------------------------------------------------------

async function guarded(action) {
  try {
    await action();
  } catch (error) {
    addLine("error", error.message);
    if (!app.running && app.threadId !== null) {
      stopMedia();
      $("start").disabled = false;
      setStatus("ready");
    }
  }
}

async function sendText(event) {
  event.preventDefault();
  const input = $("text");
  const text = input.value.trim();
  if (text === "") return;
  input.value = "";
  await guarded(async () => {
    await ensureStarted();
    addLine("user", text);
    await app.rpc.request("thread/realtime/appendText", { threadId: app.threadId, text });
    await app.rpc.request("thread/realtime/requestResponse", { threadId: app.threadId });
  });
}

async function stopTalking() {
  $("stop").disabled = true;
  await guarded(() => app.rpc.request("thread/realtime/stop", { threadId: app.threadId }));
}

async function cancelAgent() {
  const turnId = app.agent.turnId;
  if (turnId === null) return;
  $("agent-cancel").disabled = true;
  await guarded(() => app.rpc.request("turn/interrupt", { threadId: app.threadId, turnId }));
}

// -- start-up ----------------------------------------------------------------------------

async function connect(token) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const rpc = new Rpc(`${scheme}//${location.host}/`, token, onNotification, (event) => {
    app.running = false;
    stopMedia();
    setStatus(`disconnected from the app-server (${event.code}); reload to reconnect`, "error");
    for (const id of ["start", "stop", "text", "send", "agent-cancel"]) $(id).disabled = true;
  });
  await rpc.connect();
  app.rpc = rpc;
  await rpc.request("initialize", {
    clientInfo: { name: "realtalk_web", title: "realtalk page", version: "1" },
    capabilities: {
      experimentalApi: true,
      // The model's audio arrives over WebRTC; its copy over the socket is not needed.
      optOutNotificationMethods: ["thread/realtime/outputAudio/delta"],
    },
  });
  rpc.notify("initialized");
  const result = await rpc.request("thread/start", {});
  app.threadId = result.thread.id;
  document.body.dataset.threadId = app.threadId;
  setStatus("ready: press Start talking, or type");
  for (const id of ["start", "text", "send"]) $(id).disabled = false;
}

function askForToken(message) {
  if (message) setStatus(message, "error");
  $("token-box").hidden = false;
  $("token-input").focus();
}

async function main() {
  $("start").addEventListener("click", () => guarded(ensureStarted));
  $("stop").addEventListener("click", stopTalking);
  $("say").addEventListener("submit", sendText);
  $("agent-cancel").addEventListener("click", cancelAgent);
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token-input").value);
    $("token-box").hidden = true;
    location.reload();
  });
  const token = takeToken();
  if (!token) {
    askForToken("open the address realtalk app-server printed (it carries the token), or paste the token");
    return;
  }
  try {
    await connect(token);
  } catch (error) {
    sessionStorage.removeItem(TOKEN_KEY);
    askForToken(error.message);
  }
}

main();
