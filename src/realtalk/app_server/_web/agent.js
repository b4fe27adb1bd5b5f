// The agent panel: one entry per agent turn (newest first) drawn from the turn/* and
// item/* notifications: the task in the person's words, a spinner and the elapsed time
// while it works, each command with its output tail, patched files, the agent's
// messages, approval questions, and a cancel button. Text only (textContent), never
// HTML from the server.

const OUTPUT_TAIL_CHARS = 2000;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function taskText(text) {
  // A delegation is wrapped in <realtime_delegation><input>…</input>…: show the words.
  const match = /<input>([\s\S]*?)<\/input>/.exec(text);
  const words = match ? match[1] : text.replace(/<\/?[a-z_]+>/g, " ");
  return words.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&").trim();
}

function elapsed(since) {
  const seconds = (performance.now() - since) / 1000;
  return seconds < 10 ? `${seconds.toFixed(2)} s` : `${seconds.toFixed(0)} s`;
}

function tail(text) {
  return text.length > OUTPUT_TAIL_CHARS ? `…${text.slice(-OUTPUT_TAIL_CHARS)}` : text;
}

export class AgentPanel {
  // actions: { cancel(turnId) -> Promise, decide(requestId, decision) }
  constructor(list, idle, actions) {
    this.list = list;
    this.idle = idle;
    this.actions = actions;
    this.turns = new Map();
    this.timer = null;
    this.questions = new Map(); // server request id -> { node, resolve }
  }

  get running() {
    for (const turn of this.turns.values()) if (turn.node.dataset.state === "working") return turn;
    return null;
  }

  turnStarted(turnId) {
    this.idle.hidden = true;
    const node = el("li", "turn");
    node.dataset.turnId = turnId;
    node.dataset.state = "working";
    const head = el("div", "turn-head");
    head.append(el("span", "spinner"), el("span", "turn-task", "…"));
    const status = el("p", "turn-status", "working");
    const log = el("div", "turn-log");
    const cancel = el("button", "turn-cancel", "Cancel");
    cancel.type = "button";
    cancel.addEventListener("click", () => {
      cancel.disabled = true;
      this.actions.cancel(turnId);
    });
    node.append(head, status, log, cancel);
    this.list.prepend(node);
    const turn = { node, status, log, cancel, startedAt: performance.now(), items: new Map() };
    this.turns.set(turnId, turn);
    this.tick();
    if (this.timer === null) this.timer = setInterval(() => this.tick(), 200);
    return turn;
  }

  turn(turnId) {
    return this.turns.get(turnId) || this.turnStarted(turnId);
  }

  tick() {
    let working = false;
    for (const turn of this.turns.values()) {
      if (turn.node.dataset.state !== "working") continue;
      working = true;
      turn.status.textContent = `working · ${elapsed(turn.startedAt)}`;
    }
    if (!working && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  steered(text) {
    // What the person said about the running task reaches it as steering.
    const turn = this.running;
    if (turn !== null) turn.log.append(el("p", "turn-steer", `+ ${text}`));
  }

  itemStarted(turnId, item) {
    const turn = this.turn(turnId);
    if (item.type === "userMessage") {
      const text = taskText(item.content.map((part) => part.text || "").join(" "));
      const task = turn.node.querySelector(".turn-task");
      if (task.textContent === "…") task.textContent = text;
      else turn.log.append(el("p", "turn-steer", `+ ${text}`));
    } else if (item.type === "agentMessage") {
      this.message(turn, item.id).textContent = item.text || "";
    } else if (item.type === "commandExecution") {
      const box = el("div", "turn-command");
      box.dataset.state = item.status || "inProgress";
      box.append(el("code", "command-line", `$ ${item.command}`), el("pre", "command-output"));
      turn.items.set(item.id, box);
      turn.log.append(box);
    } else if (item.type === "fileChange") {
      turn.items.set(item.id, turn.log.appendChild(el("p", "turn-files", this.files(item))));
    }
  }

  message(turn, itemId) {
    let node = turn.items.get(itemId);
    if (node === undefined) {
      node = el("p", "turn-message", "");
      turn.items.set(itemId, node);
      turn.log.append(node);
    }
    return node;
  }

  files(item) {
    const changes = (item.changes || []).map((c) => `${c.path} (${c.kind})`).join(", ");
    return `${item.status === "completed" ? "changed" : `${item.status}:`} ${changes}`;
  }

  agentDelta(turnId, itemId, delta) {
    const node = this.message(this.turn(turnId), itemId);
    node.textContent += delta;
  }

  outputDelta(turnId, itemId, delta) {
    const box = this.turn(turnId).items.get(itemId);
    if (box === undefined) return;
    const output = box.querySelector(".command-output");
    output.textContent = tail(output.textContent + delta);
  }

  itemCompleted(turnId, item) {
    const turn = this.turn(turnId);
    if (item.type === "agentMessage") {
      this.message(turn, item.id).textContent = item.text;
    } else if (item.type === "commandExecution") {
      const box = turn.items.get(item.id);
      if (box === undefined) return;
      box.dataset.state = item.status;
      const output = box.querySelector(".command-output");
      if (item.aggregatedOutput) output.textContent = tail(item.aggregatedOutput);
      if (item.exitCode !== undefined && item.exitCode !== null && item.exitCode !== 0) {
        box.append(el("span", "command-exit", `exit ${item.exitCode}`));
      } else if (item.status === "declined") {
        box.append(el("span", "command-exit", "declined"));
      }
    } else if (item.type === "fileChange") {
      const node = turn.items.get(item.id);
      if (node !== undefined) node.textContent = this.files(item);
    }
  }

  turnCompleted(turn) {
    const entry = this.turn(turn.id);
    const took = elapsed(entry.startedAt);
    entry.cancel.remove();
    entry.node.dataset.state = turn.status === "completed" ? "done" : turn.status;
    if (turn.status === "completed") entry.status.textContent = `done in ${took}`;
    else if (turn.status === "interrupted") entry.status.textContent = `cancelled after ${took}`;
    else entry.status.textContent = `failed after ${took}: ${turn.error ? turn.error.message : "unknown error"}`;
    this.tick();
  }

  // A server request asking the person to allow something; resolves with the decision.
  ask(requestId, method, params) {
    const turn = this.turn(params.turnId);
    const what = method === "item/fileChange/requestApproval"
      ? "The agent asks to change files"
      : `The agent asks to run: ${params.command || "a command"}`;
    const node = el("div", "turn-approval");
    node.append(el("p", "", params.reason ? `${what} (${params.reason})` : what));
    return new Promise((resolve) => {
      for (const [label, decision] of [["Allow", "accept"], ["Deny", "decline"]]) {
        const button = el("button", `approval-${decision}`, label);
        button.type = "button";
        button.addEventListener("click", () => {
          this.questions.delete(requestId);
          node.remove();
          resolve({ decision });
        });
        node.append(button);
      }
      this.questions.set(requestId, node);
      turn.log.append(node);
    });
  }

  resolved(requestId) {
    // The server settled the question itself (the turn ended): drop the buttons.
    const node = this.questions.get(requestId);
    if (node !== undefined) node.remove();
    this.questions.delete(requestId);
  }

  disable() {
    for (const button of this.list.querySelectorAll("button")) button.disabled = true;
  }
}
