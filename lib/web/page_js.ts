/**
 * The page's script (plain JavaScript, an ES module, no build step): the
 * views and the chat over the /chat WebSocket here, the file and status
 * views in page_js_files.ts; one script, in that order. Every string from
 * the network is put in the page with textContent, never as HTML.
 */
import { FILES_STATUS_JS } from "./page_js_files.ts";

/** GET /app.js. */
export const PAGE_JS = String.raw`"use strict";
const $ = (id) => document.getElementById(id);

/** An element with classes and text (never HTML). */
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

function toLogin(response) {
  if (response.status === 401) {
    location.href = "/login";
    return true;
  }
  return false;
}

// ---- views ----

const VIEWS = ["chat", "files", "status"];
let current = "";

function show(view, focus) {
  if (!VIEWS.includes(view)) view = "chat";
  for (const name of VIEWS) {
    const tab = $("tab-" + name);
    const selected = name === view;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $("view-" + name).classList.toggle("hidden", !selected);
  }
  if (focus) $("tab-" + view).focus();
  const changed = current !== view;
  current = view;
  if (view === "status") startStatus();
  else stopStatus();
  if (view === "files" && changed) loadFolder(folderFromHash());
}

function viewFromHash() {
  const hash = location.hash.slice(1);
  return hash.startsWith("files") ? "files" : VIEWS.includes(hash) ? hash : "chat";
}

for (const name of VIEWS) {
  const tab = $("tab-" + name);
  tab.addEventListener("click", () => {
    location.hash = name === "files" ? "files=" + currentFolder : name;
  });
  tab.addEventListener("keydown", (event) => {
    const at = VIEWS.indexOf(name);
    let next = -1;
    if (event.key === "ArrowRight") next = (at + 1) % VIEWS.length;
    if (event.key === "ArrowLeft") next = (at + VIEWS.length - 1) % VIEWS.length;
    if (event.key === "Home") next = 0;
    if (event.key === "End") next = VIEWS.length - 1;
    if (next < 0) return;
    event.preventDefault();
    location.hash = VIEWS[next];
    show(VIEWS[next], true);
  });
}
addEventListener("hashchange", () => {
  const view = viewFromHash();
  if (view === "files" && current === "files") loadFolder(folderFromHash());
  show(view, false);
});

// ---- chat ----

let socket = null;
let myName = "";
let myRoom = "#lobby";
let joined = false;
let members = [];

function clock(ts) {
  const date = ts ? new Date(ts) : new Date();
  if (isNaN(date.getTime())) return "";
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** Adds one line to the log, keeping it scrolled to the end if it was. */
function logLine(kind, ts, parts, history) {
  const log = $("log");
  const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  const item = el("li", kind + (history ? " history" : ""));
  item.appendChild(el("span", "time", clock(ts)));
  for (const [className, text] of parts) item.appendChild(el("span", className, text));
  log.appendChild(item);
  while (log.childElementCount > 1000) log.removeChild(log.firstElementChild);
  if (atEnd) log.scrollTop = log.scrollHeight;
}

// JSON mode's system events carry the text protocol's "! ..." lines without the "! ".
const ECHO_ON = /^Echo on/;

function renderMembers() {
  const list = $("members");
  clear(list);
  for (const name of members) {
    const item = el("li");
    const button = el("button", "", name === myName ? name + " (you)" : name);
    button.type = "button";
    button.title = "Send a private message to " + name;
    button.addEventListener("click", () => {
      const input = $("say");
      input.value = "/msg " + name + " ";
      input.focus();
    });
    item.appendChild(button);
    list.appendChild(item);
  }
}

function renderRooms(rooms) {
  const list = $("rooms");
  clear(list);
  for (const entry of rooms) {
    const item = el("li");
    const label = entry.room + " (" + entry.members + ")";
    const button = el("button", entry.room === myRoom ? "current" : "", label);
    button.type = "button";
    button.title = "Join " + entry.room;
    button.addEventListener("click", () => send("/join " + entry.room));
    item.appendChild(button);
    list.appendChild(item);
  }
}

function setRoom(room) {
  myRoom = room;
  $("room-title").textContent = room;
  send("/users");
  send("/rooms");
}

function onJoined() {
  joined = true;
  send("/echo on"); // our own lines come back with the server's time, as everyone sees them
  $("join-form").classList.add("hidden");
  $("chat").classList.remove("hidden");
  $("say").focus();
  setRoom("#lobby");
}

function onSystem(text, ts) {
  const shown = text.replace(/^! /, "");
  if (!joined) {
    const match = /^Joined as ([A-Za-z0-9_.-]+)\./.exec(shown);
    if (match) {
      myName = match[1];
      onJoined();
    } else if (!shown.startsWith("Welcome")) {
      $("join-problem").textContent = shown.replace(/ Enter your name:$/, "");
      $("join-form").querySelector("button").disabled = false;
      return;
    } else {
      return;
    }
  }
  if (ECHO_ON.test(shown)) return;
  const moved = /^Joined (#[A-Za-z0-9_.-]+)\./.exec(shown);
  if (moved) setRoom(moved[1]);
  const renamed = /^You are now known as ([A-Za-z0-9_.-]+)/.exec(shown);
  if (renamed) {
    myName = renamed[1];
    renderMembers();
  }
  logLine("system", ts, [["text", shown]]);
}

function onEvent(event) {
  const history = event.history === true;
  switch (event.type) {
    case "system":
      return onSystem(String(event.text), event.ts);
    case "message":
      if (event.action) {
        return logLine("message action", event.ts, [["text", "* " + event.from + " " + event.text]], history);
      }
      return logLine("message", event.ts, [["from", event.from + ":"], ["text", event.text]], history);
    case "private":
      return logLine("private", event.ts, [
        ["from", "(private) " + event.from + " \u2192 " + event.to + ":"],
        ["text", event.text],
      ], history);
    case "join":
      if (event.room === myRoom && !members.includes(event.name)) {
        members.push(event.name);
        members.sort((a, b) => a.toLowerCase() < b.toLowerCase() ? -1 : 1);
        renderMembers();
      }
      return logLine("event", event.ts, [["text", event.name + " joined " + event.room]]);
    case "leave":
      if (event.room === myRoom) {
        members = members.filter((name) => name !== event.name);
        renderMembers();
      }
      return logLine("event", event.ts, [
        ["text", event.name + " left " + event.room + (event.reason ? " (" + event.reason + ")" : "")],
      ]);
    case "rename":
      members = members.map((name) => name === event.from ? event.to : name);
      renderMembers();
      return logLine("event", event.ts, [["text", event.from + " is now known as " + event.to]], history);
    case "users":
      if (event.room === myRoom && Array.isArray(event.users)) {
        members = event.users.map(String);
        renderMembers();
      }
      return;
    case "rooms":
      if (Array.isArray(event.rooms)) renderRooms(event.rooms);
      return;
    default:
      return; // types this page does not know are skipped, as docs/chat.md asks
  }
}

function send(line) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(line);
}

function connect(name) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(scheme + "//" + location.host + "/chat");
  socket = ws;
  ws.addEventListener("open", () => ws.send(name));
  ws.addEventListener("message", (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    if (event && typeof event === "object") onEvent(event);
  });
  ws.addEventListener("close", () => {
    if (socket !== ws) return;
    socket = null;
    if (joined) logLine("system", null, [["text", "Disconnected"]]);
    else if (!$("join-problem").textContent) {
      $("join-problem").textContent = "Could not reach the chat";
    }
    joined = false;
    $("join-form").querySelector("button").disabled = false;
    $("join-form").classList.remove("hidden");
  });
}

$("join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = $("join-name").value.trim();
  if (!name) return;
  $("join-problem").textContent = "";
  $("join-form").querySelector("button").disabled = true;
  if (socket && socket.readyState === WebSocket.OPEN && !joined) socket.send(name);
  else {
    if (socket) socket.close();
    clear($("log"));
    connect(name);
  }
});

$("say-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("say");
  const line = input.value;
  if (line.trim() === "") return;
  send(line);
  input.value = "";
});

$("room-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("room-name");
  if (input.value.trim() === "") return;
  send("/join " + input.value.trim());
  input.value = "";
});

$("leave").addEventListener("click", () => {
  send("/quit");
  $("chat").classList.add("hidden");
});

` + FILES_STATUS_JS;
