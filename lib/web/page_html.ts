/**
 * The page's HTML: three views (Chat, Files, Status) as tab panels. No inline
 * script or style (the CSP forbids both); app.js fills it in.
 */

/** GET /: the whole document. */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>socketkit</title>
<link rel="stylesheet" href="/app.css">
<script type="module" src="/app.js"></script>
</head>
<body>
<header class="top">
  <h1>socketkit</h1>
  <nav role="tablist" aria-label="Views">
    <button role="tab" id="tab-chat" aria-controls="view-chat" aria-selected="true">Chat</button>
    <button role="tab" id="tab-files" aria-controls="view-files" aria-selected="false"
      tabindex="-1">Files</button>
    <button role="tab" id="tab-status" aria-controls="view-status" aria-selected="false"
      tabindex="-1">Status</button>
  </nav>
</header>
<main>
<section id="view-chat" role="tabpanel" aria-labelledby="tab-chat" class="view">
  <form id="join-form" class="join">
    <label for="join-name">Your name</label>
    <input id="join-name" name="name" autocomplete="nickname" maxlength="32" required
      title="1-32 letters, digits, _ - or .">
    <button type="submit">Join</button>
    <p id="join-problem" class="problem" role="alert"></p>
  </form>
  <div id="chat" class="chat hidden">
    <div class="chat-main">
      <h2 id="room-title" class="room-title">#lobby</h2>
      <ol id="log" class="log" aria-live="polite" aria-label="Messages"></ol>
      <form id="say-form" class="say">
        <label for="say" class="sr-only">Message or command</label>
        <input id="say" autocomplete="off" placeholder="Message, /msg NAME text, /me, /join #room">
        <button type="submit">Send</button>
      </form>
    </div>
    <aside class="chat-side">
      <h3>Rooms</h3>
      <ul id="rooms" class="rooms"></ul>
      <form id="room-form" class="room-form">
        <label for="room-name" class="sr-only">Room to join</label>
        <input id="room-name" placeholder="#room" maxlength="33">
        <button type="submit">Join room</button>
      </form>
      <h3>Members</h3>
      <ul id="members" class="members"></ul>
      <button id="leave" type="button">Leave</button>
    </aside>
  </div>
</section>
<section id="view-files" role="tabpanel" aria-labelledby="tab-files" class="view hidden">
  <div class="files-bar">
    <nav id="crumbs" class="crumbs" aria-label="Folder"></nav>
    <label for="filter" class="sr-only">Filter</label>
    <input id="filter" type="search" placeholder="Filter">
  </div>
  <div id="drop" class="drop" tabindex="0">
    <p>Drop files or folders here, or</p>
    <label class="button" for="pick-files">Choose files</label>
    <input id="pick-files" type="file" multiple class="sr-only">
    <label class="button" for="pick-folder">Choose a folder</label>
    <input id="pick-folder" type="file" webkitdirectory class="sr-only">
    <a id="archive" class="button" href="?archive=tar">Download folder (tar)</a>
  </div>
  <div id="uploads" class="uploads hidden" aria-live="polite">
    <div class="upload total"><span>Total</span>
      <progress id="total-progress" max="1" value="0"></progress>
      <span id="total-text"></span></div>
    <ul id="upload-list"></ul>
  </div>
  <p id="files-problem" class="problem" role="alert"></p>
  <table class="listing">
    <thead><tr><th scope="col">Name</th><th scope="col" class="num">Size</th>
      <th scope="col" class="when">Modified</th></tr></thead>
    <tbody id="listing"></tbody>
  </table>
</section>
<section id="view-status" role="tabpanel" aria-labelledby="tab-status" class="view hidden">
  <p id="status-line" class="status-line" aria-live="polite"></p>
  <h2>Services</h2>
  <table class="listing">
    <thead><tr><th scope="col">Service</th><th scope="col">Address</th>
      <th scope="col" class="num">Connections</th></tr></thead>
    <tbody id="services"></tbody>
  </table>
  <h2>Members by room</h2>
  <div id="rooms-status" class="rooms-status"></div>
  <h2>Counters</h2>
  <dl id="counters" class="counters"></dl>
</section>
</main>
</body>
</html>
`;
