// The realtalk page: one app-server thread, WebRTC media between this browser and the
// model (the app-server relays the SDP offer and answer), and a live transcript and
// agent panel drawn from the app-server's notifications. Plain JS modules, no build.
//
// Auth: the token arrives in the URL fragment (never sent to a server), moves to
// sessionStorage, and is offered as a WebSocket subprotocol (see _web.py).

import { AgentPanel } from "./agent.js";
import { Rpc } from "./rpc.js";

const TOKEN_KEY = "realtalk.token";
const ICE_GATHERING_TIMEOUT_MS = 5000;
const STATS_INTERVAL_MS = 500;
const APPROVALS = new Set(["item/commandExecution/requestApproval", "item/fileChange/requestApproval"]);

const $ = (id) => document.getElementById(id);

const app = {
  rpc: null,
  threadId: null,
  pc: null,
  mic: null,
  running: false,
  starting: null, // Promise of a start in progress
  startWait: null, // { resolve, reject } until thread/realtime/started or a failure
  live: { user: null, assistant: null },
  agent: null,
  statsTimer: null,
};

function takeToken() {
  const fromUrl = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

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

// -- notifications and server requests ---------------------------------------------------

function onNotification(method, params) {
  if (params.threadId !== undefined && params.threadId !== app.threadId) return;
  const agent = app.agent;
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
      if (params.item.type === "handoff_request") agent.steered(params.item.input_transcript);
      else if (params.item.type === "input_audio_buffer.speech_started") liveLine("user");
      break;
    case "thread/realtime/error":
      if (app.startWait !== null) settleStart(new Error(`could not start: ${params.message}`));
      else addLine("error", params.message);
      break;
    case "thread/realtime/closed":
      conversationClosed(params.reason);
      break;
    case "turn/started":
      agent.turnStarted(params.turn.id);
      break;
    case "item/started":
      agent.itemStarted(params.turnId, params.item);
      break;
    case "item/agentMessage/delta":
      agent.agentDelta(params.turnId, params.itemId, params.delta);
      break;
    case "item/commandExecution/outputDelta":
      agent.outputDelta(params.turnId, params.itemId, params.delta);
      break;
    case "item/completed":
      agent.itemCompleted(params.turnId, params.item);
      break;
    case "turn/completed":
      agent.turnCompleted(params.turn);
      break;
    case "serverRequest/resolved":
      agent.resolved(params.requestId);
      break;
    case "error":
      if (params.error) addLine("error", `agent: ${params.error.message}`);
      break;
    default:
      break;
  }
}

function onServerRequest(method, params, id) {
  if (APPROVALS.has(method) && params.threadId === app.threadId) {
    return app.agent.ask(id, method, params);
  }
  const error = new Error(`the page does not handle ${method}`);
  error.code = -32601;
  return Promise.reject(error);
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

async function ensureThread() {
  // The thread starts with the first conversation, so the approval choice applies to it;
  // its agent's model connection is warmed from here on.
  if (app.threadId !== null) return;
  const select = $("approval");
  const result = await app.rpc.request("thread/start", { approvalPolicy: select.value });
  app.threadId = result.thread.id;
  document.body.dataset.threadId = app.threadId;
  select.disabled = true;
}

async function startTalking() {
  $("start").disabled = true;
  setStatus("starting…");
  await ensureThread();
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
  const started = new Promise((resolve, reject) => {
    app.startWait = { resolve, reject };
  });
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
  // (and its energy: silence has none) and the microphone audio sent.
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
    app.starting = startTalking().finally(() => {
      app.starting = null;
    });
  }
  await app.starting;
}

// -- user actions ------------------------------------------------------------------------

async function guarded(action) {
  try {
    await action();
  } catch (error) {
    addLine("error", error.message);
    if (!app.running && app.rpc !== null) {
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

function cancelTurn(turnId) {
  // A delegation of the running conversation is cancelled there, so the model is told at
  // once and says so (thread/realtime/cancelHandoff); a turn with no conversation running
  // (or none delegated) is interrupted.
  return guarded(async () => {
    if (app.running) {
      const params = { threadId: app.threadId };
      const result = await app.rpc.request("thread/realtime/cancelHandoff", params);
      if (result.cancelled) return;
    }
    await app.rpc.request("turn/interrupt", { threadId: app.threadId, turnId });
  });
}

// -- start-up ----------------------------------------------------------------------------

function disconnected(event) {
  app.running = false;
  stopMedia();
  setStatus(`disconnected from the app-server (${event.code}); reload to reconnect`, "error");
  for (const id of ["start", "stop", "text", "send"]) $(id).disabled = true;
  app.agent.disable();
}

async function connect(token) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const rpc = new Rpc(`${scheme}//${location.host}/`, token, {
    notification: onNotification,
    request: onServerRequest,
    closed: disconnected,
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
  setStatus("ready: press Start talking, or type");
  for (const id of ["start", "text", "send"]) $(id).disabled = false;
}

function askForToken(message) {
  if (message) setStatus(message, "error");
  $("token-box").hidden = false;
  $("token-input").focus();
}

async function main() {
  app.agent = new AgentPanel($("agent-turns"), $("agent-idle"), {
    cancel: cancelTurn,
  });
  $("start").addEventListener("click", () => guarded(ensureStarted));
  $("stop").addEventListener("click", stopTalking);
  $("say").addEventListener("submit", sendText);
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
