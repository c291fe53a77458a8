/**
 * The second half of the page's script (see page_js.ts): the Files view
 * (listing, filter, uploads with progress) and the Status view (polling
 * /status), and the start. It uses the helpers defined in the first half.
 */

/** Appended to PAGE_JS. */
export const FILES_STATUS_JS = String.raw`
// ---- files ----

let currentFolder = "/";
let entries = [];

function folderFromHash() {
  const hash = location.hash.slice(1);
  if (!hash.startsWith("files=")) return currentFolder;
  let folder = decodeURIComponent(hash.slice(6)) || "/";
  if (!folder.startsWith("/")) folder = "/" + folder;
  if (!folder.endsWith("/")) folder += "/";
  return folder;
}

/** /files/a%20b/c/ for the folder "/a b/c/" (each part encoded). */
function filesUrl(path) {
  return "/files" + path.split("/").map(encodeURIComponent).join("/");
}

function formatSize(bytes) {
  if (typeof bytes !== "number") return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return (unit === 0 ? String(value) : value.toFixed(1)) + " " + units[unit];
}

function formatTime(mtime) {
  if (mtime === undefined || mtime === null) return "";
  const date = new Date(mtime);
  return isNaN(date.getTime()) ? "" : date.toLocaleString();
}

function isFolder(entry) {
  return entry.type === "directory" || entry.type === "dir" || entry.type === "folder" ||
    entry.directory === true || String(entry.name).endsWith("/");
}

function renderCrumbs() {
  const crumbs = $("crumbs");
  clear(crumbs);
  const parts = currentFolder.split("/").filter(Boolean);
  const root = el("a", "", "files");
  root.href = "#files=/";
  crumbs.appendChild(root);
  let path = "/";
  for (const part of parts) {
    path += part + "/";
    crumbs.appendChild(document.createTextNode(" / "));
    const link = el("a", "", part);
    link.href = "#files=" + encodeURIComponent(path);
    crumbs.appendChild(link);
  }
  $("archive").href = filesUrl(currentFolder) + "?archive=tar";
}

function renderListing() {
  const body = $("listing");
  clear(body);
  const filter = $("filter").value.trim().toLowerCase();
  const shown = entries.filter((entry) => String(entry.name).toLowerCase().includes(filter));
  for (const entry of shown) {
    const row = el("tr");
    const cell = el("td");
    const name = String(entry.name).replace(/\/$/, "");
    const link = el("a", "", isFolder(entry) ? name + "/" : name);
    if (isFolder(entry)) link.href = "#files=" + encodeURIComponent(currentFolder + name + "/");
    else {
      link.href = filesUrl(currentFolder + name);
      link.setAttribute("download", name);
      if (entry.sha256) link.title = "SHA-256 " + entry.sha256;
    }
    cell.appendChild(link);
    row.appendChild(cell);
    row.appendChild(el("td", "num", isFolder(entry) ? "" : formatSize(entry.size)));
    row.appendChild(el("td", "when", formatTime(entry.mtime)));
    body.appendChild(row);
  }
  if (shown.length === 0) {
    const row = el("tr");
    const cell = el("td", "", entries.length === 0 ? "(empty folder)" : "(nothing matches)");
    cell.colSpan = 3;
    row.appendChild(cell);
    body.appendChild(row);
  }
}

async function loadFolder(folder) {
  currentFolder = folder;
  renderCrumbs();
  $("files-problem").textContent = "";
  try {
    const response = await fetch(filesUrl(folder), { headers: { accept: "application/json" } });
    if (toLogin(response)) return;
    if (!response.ok) {
      $("files-problem").textContent = "Cannot list " + folder + ": " + (await response.text()).trim();
      entries = [];
    } else {
      const data = await response.json();
      const list = Array.isArray(data) ? data : data.entries || data.files || [];
      entries = list.filter((entry) => entry && typeof entry.name === "string");
    }
  } catch (error) {
    $("files-problem").textContent = "Cannot list " + folder + ": " + error;
    entries = [];
  }
  renderListing();
}

$("filter").addEventListener("input", renderListing);

// Uploads: one at a time, each a PUT of the file's bytes with progress.
const queue = [];
let uploading = false;
let totalBytes = 0;
let doneBytes = 0;

function enqueue(files) {
  if (files.length === 0) return;
  $("uploads").classList.remove("hidden");
  for (const { file, path } of files) {
    const row = el("li", "upload");
    const bar = el("progress");
    bar.max = Math.max(file.size, 1);
    bar.value = 0;
    const text = el("span", "", "waiting");
    row.appendChild(el("span", "", path.replace(/^\//, "")));
    row.appendChild(bar);
    row.appendChild(text);
    $("upload-list").appendChild(row);
    totalBytes += file.size;
    queue.push({ file, path, row, bar, text });
  }
  updateTotal(0);
  if (!uploading) void uploadNext();
}

function updateTotal(inFlight) {
  const bar = $("total-progress");
  bar.max = Math.max(totalBytes, 1);
  bar.value = totalBytes === 0 ? 1 : doneBytes + inFlight;
  const percent = totalBytes === 0 ? 100 : Math.floor((doneBytes + inFlight) * 100 / totalBytes);
  $("total-text").textContent = percent + " %";
}

function put(item) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", filesUrl(item.path));
    xhr.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      item.bar.value = event.loaded;
      item.text.textContent = Math.floor(event.loaded * 100 / Math.max(event.total, 1)) + " %";
      updateTotal(event.loaded);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 401) toLogin(xhr);
      resolve({ ok: xhr.status >= 200 && xhr.status < 300, why: xhr.status + " " + xhr.responseText.trim() });
    });
    xhr.addEventListener("error", () => resolve({ ok: false, why: "connection failed" }));
    xhr.send(item.file);
  });
}

async function uploadNext() {
  uploading = true;
  while (queue.length > 0) {
    const item = queue.shift();
    item.text.textContent = "0 %";
    const result = await put(item);
    doneBytes += item.file.size;
    item.bar.value = item.bar.max;
    item.row.classList.add(result.ok ? "done" : "failed");
    item.text.textContent = result.ok ? "100 %" : result.why;
    updateTotal(0);
  }
  uploading = false;
  loadFolder(currentFolder);
}

function picked(input) {
  const files = [...input.files].map((file) => ({
    file,
    path: currentFolder + (file.webkitRelativePath || file.name),
  }));
  input.value = "";
  enqueue(files);
}

$("pick-files").addEventListener("change", (event) => picked(event.target));
$("pick-folder").addEventListener("change", (event) => picked(event.target));

/** Every file under a dropped entry (a folder is read recursively). */
async function walk(entry, prefix, out) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    out.push({ file, path: prefix + entry.name });
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) break;
      for (const child of batch) await walk(child, prefix + entry.name + "/", out);
    }
  }
}

const drop = $("drop");
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", async (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  const transfer = event.dataTransfer;
  if (!transfer) return;
  const found = [];
  const items = [...(transfer.items || [])];
  const walked = items.map((item) => item.webkitGetAsEntry ? item.webkitGetAsEntry() : null);
  if (walked.length > 0 && walked.every((entry) => entry)) {
    for (const entry of walked) await walk(entry, currentFolder, found);
  } else {
    for (const file of transfer.files) found.push({ file, path: currentFolder + file.name });
  }
  enqueue(found);
});

// ---- status ----

let statusTimer = 0;

function startStatus() {
  if (statusTimer) return;
  void refreshStatus();
  statusTimer = setInterval(refreshStatus, 2000);
}

function stopStatus() {
  clearInterval(statusTimer);
  statusTimer = 0;
}

function counterRows(status) {
  const rows = [["uptime", Math.round(status.uptimeSeconds || 0) + " s"]];
  for (const section of ["messages", "chat", "files", "info", "security", "web"]) {
    const values = status[section];
    if (!values || typeof values !== "object") continue;
    for (const [key, value] of Object.entries(values)) {
      if (typeof value === "number" || typeof value === "string") {
        rows.push([section + " " + key, String(value)]);
      }
    }
  }
  return rows;
}

function renderStatus(status) {
  $("status-line").textContent = "socketkit " + status.version + ", updated " + clock(null);
  const services = $("services");
  clear(services);
  for (const service of status.services || []) {
    const row = el("tr");
    row.appendChild(el("td", "", String(service.label || "").replace(/^\[|\]$/g, "")));
    row.appendChild(el("td", "", service.transport + " " + service.host + ":" + service.port));
    row.appendChild(el("td", "num", service.connections === undefined ? "" : service.connections));
    services.appendChild(row);
  }
  const counters = $("counters");
  clear(counters);
  for (const [key, value] of counterRows(status)) {
    counters.appendChild(el("dt", "", key));
    counters.appendChild(el("dd", "", value));
  }
  const byRoom = new Map();
  const list = status.members || status.users || [];
  for (const member of Array.isArray(list) ? list : []) {
    const room = String(member.room || "#lobby");
    if (!byRoom.has(room)) byRoom.set(room, []);
    byRoom.get(room).push(String(member.name));
  }
  const rooms = $("rooms-status");
  clear(rooms);
  if (byRoom.size === 0) rooms.appendChild(el("p", "", "Nobody is in the chat"));
  for (const [room, names] of [...byRoom.entries()].sort()) {
    const box = el("div", "room-members");
    box.appendChild(el("h3", "", room + " (" + names.length + ")"));
    const ul = el("ul");
    for (const name of names) ul.appendChild(el("li", "", name));
    box.appendChild(ul);
    rooms.appendChild(box);
  }
}

async function refreshStatus() {
  try {
    const response = await fetch("/status", { headers: { accept: "application/json" } });
    if (toLogin(response)) return;
    if (response.ok) renderStatus(await response.json());
    else $("status-line").textContent = "Status unavailable: " + response.status;
  } catch (error) {
    $("status-line").textContent = "Status unavailable: " + error;
  }
}

show(viewFromHash(), false);
`;
