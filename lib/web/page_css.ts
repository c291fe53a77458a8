/**
 * The page's stylesheet: one column on a phone, the chat's side list beside
 * the messages from 700 px up; light or dark as the system prefers. State is
 * shown with classes (`hidden`, `private`, `system`), never inline styles.
 */

/** GET /app.css. */
export const PAGE_CSS = `:root {
  color-scheme: light dark;
  --bg: #fdfdfc; --fg: #1d1d1f; --muted: #6b6b70; --line: #d9d9de; --accent: #0a64c2;
  --soft: #eef3fa; --private: #fff4d6; --bad: #b00020;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  font-size: 16px; line-height: 1.4;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #161618; --fg: #ececef; --muted: #a0a0a8; --line: #38383d; --accent: #6cb4ff;
    --soft: #1f2733; --private: #3a3320; --bad: #ff6b81; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); }
.top { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem 1.5rem;
  padding: 0.5rem 1rem; border-bottom: 1px solid var(--line); }
.top h1 { font-size: 1.2rem; margin: 0; }
nav[role="tablist"] { display: flex; gap: 0.25rem; }
button, .button { font: inherit; padding: 0.45rem 0.9rem; border: 1px solid var(--line);
  border-radius: 6px; background: var(--soft); color: var(--fg); cursor: pointer;
  text-decoration: none; display: inline-block; }
button:hover, .button:hover { border-color: var(--accent); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
[role="tab"][aria-selected="true"] { background: var(--accent); color: var(--bg);
  border-color: var(--accent); }
input { font: inherit; padding: 0.45rem 0.6rem; border: 1px solid var(--line);
  border-radius: 6px; background: var(--bg); color: var(--fg); min-width: 0; }
main { padding: 0.75rem 1rem; max-width: 72rem; margin: 0 auto; }
.hidden { display: none !important; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; }
.problem { color: var(--bad); min-height: 1.4em; margin: 0.25rem 0; }
.problem:empty { min-height: 0; }
.join { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; }
.join .problem { flex-basis: 100%; }
.chat { display: grid; grid-template-columns: 1fr; gap: 1rem; }
@media (min-width: 700px) { .chat { grid-template-columns: 1fr 14rem; } }
.room-title { margin: 0 0 0.5rem; font-size: 1.1rem; }
.log { list-style: none; margin: 0; padding: 0.5rem; height: 60vh; overflow-y: auto;
  border: 1px solid var(--line); border-radius: 6px; overflow-wrap: anywhere; }
.log li { padding: 0.1rem 0; white-space: pre-wrap; }
.log .time { color: var(--muted); font-size: 0.85em; margin-right: 0.4rem;
  font-variant-numeric: tabular-nums; }
.log .from { font-weight: 600; margin-right: 0.3rem; }
.log .system, .log .event { color: var(--muted); }
.log .private { background: var(--private); border-radius: 4px; padding: 0.1rem 0.3rem; }
.log .history { opacity: 0.75; }
.say, .room-form { display: flex; gap: 0.5rem; margin-top: 0.5rem; }
.say input, .room-form input { flex: 1; }
.chat-side h3 { font-size: 1rem; margin: 0.5rem 0 0.25rem; }
.rooms, .members { list-style: none; margin: 0; padding: 0; }
.rooms button, .members button { width: 100%; text-align: left; margin: 0.1rem 0;
  background: transparent; border-color: transparent; padding: 0.3rem 0.5rem; }
.rooms .current { font-weight: 700; }
.chat-side #leave { margin-top: 1rem; }
.files-bar { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center;
  justify-content: space-between; margin-bottom: 0.5rem; }
.crumbs a { color: var(--accent); }
.drop { border: 2px dashed var(--line); border-radius: 8px; padding: 1rem; display: flex;
  flex-wrap: wrap; gap: 0.5rem; align-items: center; }
.drop p { margin: 0; }
.drop.over { border-color: var(--accent); background: var(--soft); }
.uploads { margin: 0.75rem 0; }
.uploads ul { list-style: none; padding: 0; margin: 0; }
.upload { display: grid; grid-template-columns: minmax(6rem, 1fr) 2fr 7rem; gap: 0.5rem;
  align-items: center; padding: 0.15rem 0; overflow-wrap: anywhere; }
.upload progress { width: 100%; }
.upload.done span:last-child { color: var(--muted); }
.upload.failed span:last-child { color: var(--bad); }
.total { font-weight: 600; }
.listing { width: 100%; border-collapse: collapse; margin-top: 0.5rem; }
.listing th, .listing td { text-align: left; padding: 0.35rem 0.5rem;
  border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
.listing .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.listing a { color: var(--accent); }
@media (max-width: 520px) { .listing .when { display: none; } }
.counters { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; }
.counters dt { color: var(--muted); }
.counters dd { margin: 0; font-variant-numeric: tabular-nums; }
.status-line { color: var(--muted); }
.rooms-status { display: flex; flex-wrap: wrap; gap: 0.5rem 2rem; }
.room-members h3 { font-size: 1rem; margin: 0.5rem 0 0.2rem; }
.room-members ul { margin: 0; padding-left: 1.2rem; }
@media (min-width: 700px) { .counters { grid-template-columns: repeat(2, max-content 1fr); } }
`;
