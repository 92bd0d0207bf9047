// The video console: plain JavaScript, no build step, nothing fetched from other sites.
//
// Rules kept throughout:
// - every string that comes from the API is put in the page with textContent (or as an
//   attribute value through setAttribute/properties), never parsed as HTML;
// - the access token lives in sessionStorage and travels only in the Authorization header
//   (never in a URL); media URLs carry their own signature, so players need no header;
// - a processing video is followed through its events route (`EventFollower`); the library
//   and the last resort poll (`LiveUpdates`).

const TOKEN_KEY = "video-console.token";
const POLL_MS = 3000;
// GET /videos/{id}/events: the server's longest wait in the stream form (no ?wait=) is its
// VIDEO_SSE_WAIT_SECONDS (a <meta>) capped at 25 s; the long-poll form asks for 20 s, below any
// proxy's or API Gateway's 30 s. A response silent for its wait plus the grace is taken for a
// buffering proxy.
const STREAM_WAIT_MAX_S = 25;
const LONG_POLL_WAIT_S = 20;
const SILENCE_GRACE_MS = 5000;
const LONG_POLL_ATTEMPTS = 2; // failures in a row before the page polls the item instead
const FINAL = new Set(["completed", "failed"]);
const PAGE_SIZE = 24;
const SEARCH_DELAY_MS = 250;
const ACTIVE = new Set(["queued", "processing"]);
const REPROCESSABLE = new Set(["uploaded", "completed", "failed"]);
const VIDEO_EXTENSIONS = /\.(mp4|m4v|mov|mkv|webm|avi|mpe?g|ts|m2ts|mts|3gp|ogv|flv|wmv)$/i;
const HLS_SCRIPT = "/console/hls.min.js";
const ID_PATTERN = /^#\/videos\/([A-Za-z0-9_-]{1,64})$/;

const $ = (id) => document.getElementById(id);

// --- small helpers ----------------------------------------------------------------------------

/** An element with text (never HTML) and properties. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "class") node.className = value;
    else if (key === "role" || key.startsWith("aria-") || key.startsWith("data-")) {
      node.setAttribute(key, value);
    }
    else node[key] = value;
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

/** A URL from the API if it is http(s), else null (no javascript:, data: ... in the page). */
function safeUrl(value) {
  if (typeof value !== "string" || !value) return null;
  try {
    const url = new URL(value, location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/** The URL without its query (signatures change on every read; the file does not). */
function fileKey(value) {
  const url = safeUrl(value);
  if (!url) return null;
  const parsed = new URL(url);
  return parsed.origin + parsed.pathname;
}

function formatDuration(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) return "—";
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function formatTime(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "0:00.0";
  const tenths = Math.round(seconds * 10);
  return `${formatDuration(Math.floor(tenths / 10))}.${tenths % 10}`;
}

function formatBytes(bytes) {
  if (typeof bytes !== "number" || !Number.isFinite(bytes)) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 || value >= 100 ? 0 : 1)} ${units[unit]}`;
}

function formatBitrate(bps) {
  if (typeof bps !== "number" || !Number.isFinite(bps)) return "—";
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(1)} Mb/s` : `${Math.round(bps / 1000)} kb/s`;
}

function formatDate(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleString();
}

function text(value, fallback = "—") {
  return value === undefined || value === null || value === "" ? fallback : String(value);
}

function setText(id, value) {
  $(id).textContent = value;
}

function maxUploadBytes() {
  const meta = document.querySelector('meta[name="console-max-upload-bytes"]');
  const value = Number(meta ? meta.content : NaN);
  return Number.isFinite(value) && value > 0 ? value : Infinity;
}

// --- the API ----------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const error = body && typeof body === "object" && body.error ? body.error : {};
  const message =
    typeof error.message === "string" && error.message
      ? error.message
      : `The server answered ${response.status} ${response.statusText}`.trim();
  return new ApiError(response.status, error.code || `HTTP${response.status}`, message, error.requestId);
}

/** fetch() with the session's token; resolves to the response when it is ok, else rejects
 * with ApiError (a 401 for the session's token signs out). */
async function send(path, init, token = session.token) {
  const headers = { ...init.headers };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { cache: "no-store", credentials: "omit", ...init, headers });
  } catch {
    throw new ApiError(0, "NetworkError", "The server could not be reached. Is it running?");
  }
  if (!response.ok) {
    const error = await errorFrom(response);
    if (error.status === 401 && token && token === session.token) {
      signOut(`Signed out: ${error.message}`);
    }
    throw error;
  }
  return response;
}

/** One API call with the session's token; resolves to the JSON body, rejects with ApiError. */
async function api(method, path, body, token = session.token) {
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await send(path, init, token);
  if (response.status === 204) return null;
  return response.json();
}

const videoPath = (id) => `/videos/${encodeURIComponent(id)}`;

function listPath(status, query, nextToken) {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (status) params.set("status", status);
  if (query) params.set("q", query); // the API's title search: word prefixes, any case
  if (nextToken) params.set("nextToken", nextToken);
  return `/videos?${params}`;
}

function describeError(error) {
  if (!(error instanceof ApiError)) return String(error && error.message ? error.message : error);
  // A server fault is worth quoting to the operator; a refusal speaks for itself.
  return error.status >= 500 && error.requestId
    ? `${error.message} (request ${error.requestId})`
    : error.message;
}

// --- live updates -----------------------------------------------------------------------------

/** A refusal (gone, signed out, forbidden) ends a watch; a hiccup or a 429 does not. */
function isRefusal(error) {
  return error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 429;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Calls `tick()` every `interval` ms for as long as it resolves to true (there is something
 * in flight to watch). Paused while the tab is hidden. The library's updates, and the video
 * page's when its events route cannot be used (see EventFollower).
 *
 * With `maxInterval` above `interval` it backs off: each tick that resolves to true without
 * anything having changed doubles the wait, up to `maxInterval`; a tick that resolves to
 * "changed" brings it back to `interval`, and so does `nudge()` (the user just did something).
 */
class LiveUpdates {
  constructor(tick, interval = POLL_MS, maxInterval = interval) {
    this.tick = tick;
    this.interval = interval;
    this.maxInterval = Math.max(interval, maxInterval);
    this.delay = interval;
    this.timer = null;
    this.busy = false;
    this.paused = false;
    this.epoch = 0;
  }

  /** Make sure a tick is scheduled (idempotent). */
  watch() {
    if (this.timer === null && !this.busy) {
      const epoch = this.epoch;
      this.timer = setTimeout(() => this.run(epoch), this.delay);
    }
  }

  /** Something new to watch: the next tick at the base interval. */
  nudge() {
    this.stop();
    this.watch();
  }

  stop() {
    this.epoch += 1;
    clearTimeout(this.timer);
    this.timer = null;
    this.delay = this.interval;
  }

  async run(epoch) {
    this.timer = null;
    if (epoch !== this.epoch) return;
    if (document.hidden) {
      this.paused = true;
      return;
    }
    this.busy = true;
    let again = true;
    try {
      again = await this.tick(() => epoch === this.epoch);
    } catch (error) {
      again = !isRefusal(error);
    } finally {
      this.busy = false;
    }
    if (epoch !== this.epoch) return;
    this.delay = again === "changed" ? this.interval : Math.min(this.maxInterval, this.delay * 2);
    if (again) this.watch();
  }

  resume() {
    if (this.paused) {
      this.paused = false;
      this.delay = this.interval; // back on the page: look now-ish, then back off again
      this.watch();
    }
  }
}

/** Server-Sent Events from text that arrives in pieces (the fields the console needs:
 * event, data, id, retry; comments skipped). `push()` returns the events completed so far. */
class SseParser {
  constructor() {
    this.buffer = "";
    this.id = "";
    this.retry = null;
    this.clear();
  }

  clear() {
    this.type = "message";
    this.data = [];
  }

  push(chunk) {
    this.buffer += chunk;
    const lines = this.buffer.split("\n");
    this.buffer = lines.pop();
    const events = [];
    for (const raw of lines) {
      const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
      if (line === "") {
        if (this.data.length) events.push({ type: this.type, data: this.data.join("\n"), id: this.id });
        this.clear();
        continue;
      }
      const colon = line.indexOf(":");
      if (colon === 0) continue; // a comment (the server's keep-alive)
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") this.type = value;
      else if (field === "data") this.data.push(value);
      else if (field === "id") this.id = value;
      else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
    }
    return events;
  }
}

function eventsWaitSeconds() {
  const meta = document.querySelector('meta[name="console-events-wait-seconds"]');
  const value = Number(meta ? meta.content : NaN);
  return Number.isFinite(value) && value >= 0 ? Math.min(value, STREAM_WAIT_MAX_S) : STREAM_WAIT_MAX_S;
}

/**
 * Follows a video through `GET /videos/{id}/events` until it completes or fails, then calls
 * `onEnd()` once. EventSource cannot send the Authorization header, so the route is read with
 * fetch() and a streaming body reader, reconnecting after `retry` ms with the last event id as
 * EventSource would. Each response of the route ends after a change (or a keep-alive), which
 * API Gateway's buffering delivers too. If the stream form fails, or stays silent longer than
 * the server's wait (a proxy holding it back), the long-poll form (`?wait=&lastEventId=`)
 * takes over; if that fails twice in a row, `fallback` (polling) does. Same interface as
 * LiveUpdates: watch(), stop(), resume(); paused while the tab is hidden.
 */
class EventFollower {
  constructor({ path, onState, onEnd, fallback }) {
    this.path = path;
    this.onState = onState;
    this.onEnd = onEnd;
    this.fallback = fallback;
    this.form = "stream"; // then "long-poll", then "poll": a form that failed is not retried
    this.epoch = 0;
    this.following = null; // the epoch of the loop in progress
    this.paused = false;
    this.controller = null;
    this.lastId = "";
    this.retry = 1000;
  }

  watch() {
    if (this.form === "poll") {
      this.fallback.watch();
      return;
    }
    if (this.following === this.epoch) return;
    this.following = this.epoch;
    this.lastId = ""; // the first answer is the current state
    this.run(this.epoch);
  }

  stop() {
    this.epoch += 1;
    this.following = null;
    this.paused = false;
    if (this.controller) this.controller.abort();
    this.fallback.stop();
  }

  resume() {
    if (this.paused) {
      this.paused = false;
      this.watch();
    }
    this.fallback.resume();
  }

  async run(epoch) {
    let failures = 0;
    while (epoch === this.epoch) {
      if (document.hidden) {
        this.paused = true;
        break;
      }
      let ended = false;
      try {
        ended = await this.request(epoch);
        failures = 0;
      } catch (error) {
        if (epoch !== this.epoch || isRefusal(error)) break;
        const throttled = error instanceof ApiError && error.status === 429;
        if (this.form === "stream" && !throttled) {
          this.form = "long-poll";
          continue;
        }
        if (!throttled) failures += 1;
        if (failures >= LONG_POLL_ATTEMPTS) {
          this.form = "poll";
          this.fallback.watch();
          break;
        }
      }
      if (ended) {
        if (epoch === this.epoch) this.onEnd();
        break;
      }
      await sleep(this.retry);
    }
    if (this.following === epoch) this.following = null;
  }

  /** One response of the route; resolves to true once the video is final (`event: end`). */
  async request(epoch) {
    const streaming = this.form === "stream";
    const headers = { Accept: "text/event-stream" };
    const params = new URLSearchParams();
    if (streaming && this.lastId) headers["Last-Event-ID"] = this.lastId;
    if (!streaming) {
      params.set("wait", String(LONG_POLL_WAIT_S));
      if (this.lastId) params.set("lastEventId", this.lastId);
    }
    const wait = streaming ? eventsWaitSeconds() : Math.min(LONG_POLL_WAIT_S, eventsWaitSeconds());
    const controller = new AbortController();
    this.controller = controller;
    let silence = null;
    const expectMore = () => {
      clearTimeout(silence);
      silence = setTimeout(() => controller.abort(), wait * 1000 + SILENCE_GRACE_MS);
    };
    expectMore();
    const query = String(params) ? `?${params}` : "";
    try {
      const response = await send(`${this.path()}${query}`, { headers, signal: controller.signal });
      if (!(response.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
        throw new Error("the events route did not answer an event stream");
      }
      const parser = new SseParser();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let ended = false;
      for (let read = await reader.read(); !read.done; read = await reader.read()) {
        expectMore();
        for (const event of parser.push(read.value)) {
          if (epoch !== this.epoch) return false;
          if (event.type === "state") this.onState(JSON.parse(event.data));
          else if (event.type === "end") ended = true;
          this.lastId = event.id;
        }
      }
      if (parser.retry !== null) this.retry = parser.retry;
      return ended;
    } finally {
      clearTimeout(silence);
      if (this.controller === controller) this.controller = null;
    }
  }
}

// --- views ------------------------------------------------------------------------------------

const views = ["signin-view", "library-view", "video-view"];

function show(viewId, focusId) {
  for (const id of views) $(id).hidden = id !== viewId;
  $("account").hidden = viewId === "signin-view";
  const target = focusId ? $(focusId) : null;
  if (target) target.focus({ preventScroll: false });
}

function route() {
  libraryUpdates.stop();
  videoUpdates.stop();
  teardownPlayer();
  if (!session.token) {
    showSignIn();
    return;
  }
  const match = location.hash.match(ID_PATTERN);
  if (match) openVideo(match[1]);
  else openLibrary();
}

// --- sign in ----------------------------------------------------------------------------------

function showSignIn(message = "") {
  document.title = "Sign in · Video console";
  setText("signin-error", message);
  show("signin-view", "token-input");
}

async function signIn(event) {
  event.preventDefault();
  const input = $("token-input");
  const token = input.value.trim();
  if (!token) {
    setText("signin-error", "Enter an access token.");
    input.focus();
    return;
  }
  const button = $("signin-button");
  button.disabled = true;
  setText("signin-error", "");
  try {
    await api("GET", "/videos?limit=1", undefined, token); // any read checks the token
    session.set(token);
    input.value = "";
    resetLibrary();
    route();
  } catch (error) {
    setText("signin-error", describeError(error));
    input.select();
  } finally {
    button.disabled = false;
  }
}

function signOut(message = "") {
  session.clear();
  libraryUpdates.stop();
  videoUpdates.stop();
  abortUpload();
  teardownPlayer();
  resetLibrary();
  if (location.hash && location.hash !== "#/") history.replaceState(null, "", "#/");
  showSignIn(message);
}

// --- library ----------------------------------------------------------------------------------

const library = {
  videos: new Map(), // id -> item
  rows: new Map(), // id -> row element
  nextToken: null,
  status: "",
  query: "",
  loaded: false,
  generation: 0,
};

function resetLibrary() {
  library.videos.clear();
  library.rows.clear();
  library.nextToken = null;
  library.loaded = false;
  library.generation += 1;
  $("video-list").replaceChildren();
}

function newestFirst(a, b) {
  const byDate = String(b.createdAt || "").localeCompare(String(a.createdAt || ""));
  return byDate || String(b.id).localeCompare(String(a.id));
}

function upsert(video) {
  if (!video || typeof video.id !== "string") return;
  library.videos.set(video.id, video);
}

async function openLibrary() {
  document.title = "Library · Video console";
  show("library-view", "library-title");
  setText("max-upload", formatBytes(maxUploadBytes()));
  if (!library.loaded) await loadFirstPage();
  else renderLibrary();
  libraryUpdates.watch();
}

async function loadFirstPage() {
  const generation = ++library.generation;
  setText("library-error", "");
  try {
    const page = await api("GET", listPath(library.status, library.query));
    if (generation !== library.generation) return;
    library.videos.clear();
    for (const video of page.videos || []) upsert(video);
    library.nextToken = page.nextToken || null;
    library.loaded = true;
    renderLibrary();
  } catch (error) {
    if (generation === library.generation) setText("library-error", describeError(error));
  }
}

async function loadMore() {
  if (!library.nextToken) return;
  const generation = library.generation;
  const button = $("load-more");
  button.disabled = true;
  try {
    const page = await api("GET", listPath(library.status, library.query, library.nextToken));
    if (generation !== library.generation) return;
    for (const video of page.videos || []) upsert(video);
    library.nextToken = page.nextToken || null;
    renderLibrary();
    libraryUpdates.watch();
  } catch (error) {
    setText("library-error", describeError(error));
  } finally {
    button.disabled = false;
  }
}

function renderLibrary() {
  const list = $("video-list");
  const ordered = [...library.videos.values()].sort(newestFirst);
  for (const [id, row] of library.rows) {
    if (!library.videos.has(id)) {
      row.remove();
      library.rows.delete(id);
    }
  }
  let previous = null;
  let active = 0;
  for (const video of ordered) {
    let row = library.rows.get(video.id);
    if (!row) {
      row = createRow(video.id);
      library.rows.set(video.id, row);
    }
    updateRow(row, video);
    const expected = previous ? previous.nextSibling : list.firstChild;
    if (expected !== row) list.insertBefore(row, expected); // moves only rows out of place
    previous = row;
    if (ACTIVE.has(video.status)) active += 1;
  }
  const empty = $("library-empty");
  empty.hidden = ordered.length > 0;
  if (library.query) {
    const which = library.status ? `${library.status} video` : "video";
    empty.textContent = `No ${which} has a title with words starting “${library.query}”.`;
  } else {
    empty.textContent = library.status ? `No ${library.status} videos.` : "No videos yet: upload one above.";
  }
  $("load-more").hidden = !library.nextToken;
  const parts = [`${ordered.length} video${ordered.length === 1 ? "" : "s"} loaded`];
  if (active) parts.push(`${active} in progress (updating every ${POLL_MS / 1000} s)`);
  setText("library-summary", parts.join(", "));
}

function createRow(id) {
  const poster = el("span", { class: "poster" });
  const title = el("span", { class: "row-title" });
  const sub = el("span", { class: "row-sub" });
  const link = el(
    "a",
    { class: "row-link", href: `#/videos/${encodeURIComponent(id)}` },
    poster,
    el("span", { class: "row-main" }, title, sub),
  );
  const badge = el("span", { class: "badge" });
  const progress = el("span", { class: "row-progress" });
  const duration = el("span", { class: "row-duration", "aria-label": "Duration" });
  const row = el("li", { class: "video-row", "data-id": id }, link, badge, progress, duration);
  row.parts = { poster, title, sub, badge, progress, duration };
  return row;
}

function updateRow(row, video) {
  const { poster, title, sub, badge, progress, duration } = row.parts;
  title.textContent = text(video.title, "(untitled)");
  sub.textContent = formatDate(video.createdAt);
  renderBadge(badge, video.status);
  renderPoster(poster, video);
  progress.replaceChildren();
  if (ACTIVE.has(video.status)) {
    const value = Math.max(0, Math.min(100, Number(video.progress) || 0));
    progress.append(
      el("progress", { max: 100, value, "aria-label": `Progress of ${text(video.title, "video")}` }),
      el("span", { text: `${value}%` }),
    );
  } else if (video.status === "completed") {
    progress.append(el("span", { text: "100%" }));
  } else {
    progress.append(el("span", { text: "—", "aria-label": "No progress" }));
  }
  duration.textContent = formatDuration(video.media && video.media.duration);
}

function renderBadge(badge, status) {
  badge.className = `badge status-${/^[a-z]+$/.test(status || "") ? status : "unknown"}`;
  badge.textContent = text(status, "unknown");
}

function renderPoster(poster, video) {
  const url = safeUrl(video.thumbnail && video.thumbnail.url);
  const key = fileKey(url);
  if (poster.dataset.key === (key || "")) return; // same file: keep the loaded image
  poster.dataset.key = key || "";
  if (url) {
    poster.replaceChildren(el("img", { src: url, alt: "", loading: "lazy", decoding: "async" }));
  } else {
    poster.replaceChildren(el("span", { text: ACTIVE.has(video.status) ? "…" : "No poster" }));
  }
}

/** What the library shows of its in-flight videos: a change of it resets the back-off. */
function inFlightSignature() {
  return [...library.videos.values()]
    .filter((v) => ACTIVE.has(v.status))
    .map((v) => `${v.id}:${v.status}:${v.progress ?? ""}`)
    .join(",");
}

/** One polling tick of the library: the first page again, plus in-flight videos further down.
 * Resolves to "changed" when an in-flight video moved (status or progress), true while some are
 * still in flight, false when none is. */
async function libraryTick(current) {
  const inFlight = [...library.videos.values()].filter((v) => ACTIVE.has(v.status));
  if (!inFlight.length) return false;
  const before = inFlightSignature();
  const page = await api("GET", listPath(library.status, library.query));
  if (!current()) return false;
  const seen = new Set();
  for (const video of page.videos || []) {
    upsert(video);
    seen.add(video.id);
  }
  const rest = inFlight.filter((v) => !seen.has(v.id)).slice(0, 10);
  const items = await Promise.all(
    rest.map((v) => api("GET", videoPath(v.id)).catch((error) => (error.status === 404 ? null : v))),
  );
  if (!current()) return false;
  rest.forEach((v, i) => (items[i] ? upsert(items[i]) : library.videos.delete(v.id)));
  renderLibrary();
  if (![...library.videos.values()].some((v) => ACTIVE.has(v.status))) return false;
  return inFlightSignature() === before ? true : "changed";
}

// Every 3 s while something moves; a queue that stands still is asked less and less often, at
// most every LIBRARY_MAX_POLL_MS (the video page follows its one video through events instead).
const LIBRARY_MAX_POLL_MS = 30000;
const libraryUpdates = new LiveUpdates(libraryTick, POLL_MS, LIBRARY_MAX_POLL_MS);

// --- upload -----------------------------------------------------------------------------------

let currentUpload = null; // the XMLHttpRequest of the file transfer in flight

function abortUpload() {
  if (currentUpload) currentUpload.abort();
  currentUpload = null;
}

function checkFile(file) {
  if (!file) return "Choose a video file first.";
  if (file.size === 0) return `${file.name} is empty.`;
  const limit = maxUploadBytes();
  if (file.size > limit) {
    return `${file.name} is too large: ${formatBytes(file.size)}; the limit is ${formatBytes(limit)}.`;
  }
  const isVideo = (file.type || "").startsWith("video/") || VIDEO_EXTENSIONS.test(file.name);
  if (!isVideo) {
    return `${file.name} is not a video (${file.type || "unknown type"}). Choose a video file.`;
  }
  return null;
}

function titleFor(file) {
  const typed = $("title-input").value.trim();
  if (typed) return typed.slice(0, 200);
  const stem = file.name.replace(/\.[^.]+$/, "").trim();
  return (stem || file.name || "Untitled").slice(0, 200);
}

function showUploadProgress(sent, total) {
  const box = $("upload-progress");
  box.hidden = false;
  const percent = total ? Math.floor((sent / total) * 100) : 0;
  $("upload-bar").value = percent;
  setText("upload-progress-text", `${formatBytes(sent)} of ${formatBytes(total)} (${percent}%)`);
}

/** PUT the file to the upload target with progress events (fetch has none for uploads). */
function putFile(target, file) {
  return new Promise((resolve, reject) => {
    const url = safeUrl(target.uploadUrl);
    if (!url) {
      reject(new ApiError(0, "BadUploadTarget", "The server gave no usable upload address."));
      return;
    }
    const xhr = new XMLHttpRequest();
    currentUpload = xhr;
    xhr.open(target.method || "PUT", url);
    for (const [name, value] of Object.entries(target.headers || {})) {
      if (typeof value === "string") xhr.setRequestHeader(name, value);
    }
    xhr.upload.addEventListener("progress", (event) => {
      showUploadProgress(event.loaded, event.lengthComputable ? event.total : file.size);
    });
    xhr.addEventListener("load", () => {
      currentUpload = null;
      if (xhr.status >= 200 && xhr.status < 300) {
        showUploadProgress(file.size, file.size);
        resolve();
        return;
      }
      let message = `The server refused the file (${xhr.status}).`;
      let code = `HTTP${xhr.status}`;
      try {
        const error = JSON.parse(xhr.responseText).error;
        if (error && error.message) message = `The server refused the file: ${error.message}`;
        if (error && error.code) code = error.code;
      } catch {
        // S3 answers XML; the status says enough
      }
      reject(new ApiError(xhr.status, code, message));
    });
    xhr.addEventListener("error", () => {
      currentUpload = null;
      reject(new ApiError(0, "NetworkError", "The upload failed: the connection was refused or lost."));
    });
    xhr.addEventListener("abort", () => {
      currentUpload = null;
      reject(new ApiError(0, "Aborted", "Upload cancelled."));
    });
    xhr.send(file);
  });
}

async function upload(event) {
  event.preventDefault();
  const fileInput = $("file-input");
  const file = fileInput.files && fileInput.files[0];
  setText("upload-error", "");
  setText("upload-status", "");
  const problem = checkFile(file);
  if (problem) {
    setText("upload-error", problem);
    fileInput.focus();
    return;
  }
  const title = titleFor(file);
  const button = $("upload-button");
  button.disabled = true;
  $("upload-cancel").hidden = false;
  let video = null;
  try {
    setText("upload-status", "Preparing the upload…");
    const request = { filename: file.name };
    if (/^[a-z]+\/[a-z0-9.+-]+$/.test(file.type || "")) request.contentType = file.type;
    const target = await api("POST", "/uploads", request);
    setText("upload-status", `Uploading ${file.name}…`);
    showUploadProgress(0, file.size);
    await putFile(target, file);
    setText("upload-status", "Creating the video…");
    video = await api("POST", "/videos", { title, sourceUrl: target.sourceUrl });
    upsert(video);
    renderLibrary();
    setText("upload-status", "Starting processing…");
    await api("POST", `${videoPath(video.id)}/process`);
    upsert({ ...video, status: "queued", progress: 0 });
    renderLibrary();
    libraryUpdates.nudge();
    setText("upload-status", `Uploaded “${title}”: processing started.`);
    $("upload-form").reset();
    $("upload-progress").hidden = true;
  } catch (error) {
    const what = video ? "The video was created but processing did not start: " : "";
    setText("upload-error", what + describeError(error));
    setText("upload-status", "");
    if (!video) $("upload-progress").hidden = true;
  } finally {
    button.disabled = false;
    $("upload-cancel").hidden = true;
  }
}

function setupDragAndDrop() {
  const overlay = $("drop-overlay");
  let depth = 0;
  const carriesFiles = (event) =>
    event.dataTransfer && Array.from(event.dataTransfer.types || []).includes("Files");
  const canDrop = () => session.token && !$("library-view").hidden;
  document.addEventListener("dragenter", (event) => {
    if (!carriesFiles(event) || !canDrop()) return;
    depth += 1;
    overlay.hidden = false;
  });
  document.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) overlay.hidden = true;
  });
  document.addEventListener("dragover", (event) => {
    if (carriesFiles(event)) {
      event.preventDefault(); // allow the drop (and keep the browser from opening the file)
      event.dataTransfer.dropEffect = canDrop() ? "copy" : "none";
    }
  });
  document.addEventListener("drop", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth = 0;
    overlay.hidden = true;
    if (!canDrop()) return;
    const file = event.dataTransfer.files[0];
    if (!file) return;
    const transfer = new DataTransfer();
    transfer.items.add(file);
    $("file-input").files = transfer.files;
    onFileChosen();
    $("upload-button").focus();
  });
}

function onFileChosen() {
  const file = $("file-input").files[0];
  setText("upload-error", file ? checkFile(file) || "" : "");
  setText("upload-status", file ? `Ready to upload ${file.name} (${formatBytes(file.size)}).` : "");
}

// --- one video --------------------------------------------------------------------------------

const page = { id: null, video: null, runId: null };

async function openVideo(id) {
  page.id = id;
  page.video = null;
  page.runId = null;
  for (const field of ["video-title", "video-status", "video-description", "video-error"]) {
    setText(field, "");
  }
  $("video-failure").hidden = true;
  $("video-progress").hidden = true;
  $("player-area").hidden = true;
  $("process-again").hidden = true;
  show("video-view");
  setText("video-title", "Loading…");
  try {
    const video = await api("GET", videoPath(id));
    if (page.id !== id) return;
    renderVideo(video);
    $("video-title").focus();
    if (ACTIVE.has(video.status)) videoUpdates.watch();
  } catch (error) {
    if (page.id !== id) return;
    setText("video-title", error.status === 404 ? "Video not found" : "Could not load the video");
    setText("video-error", describeError(error));
    $("video-title").focus();
  }
}

function renderVideo(video) {
  page.video = video;
  upsert(video); // the library shows the same state when we go back
  document.title = `${text(video.title, "Video")} · Video console`;
  setText("video-title", text(video.title, "(untitled)"));
  setText("video-description", text(video.description, ""));
  renderBadge($("video-status"), video.status);

  const again = $("process-again");
  again.hidden = false;
  again.disabled = !REPROCESSABLE.has(video.status);
  again.textContent = video.status === "uploaded" ? "Process" : "Process again";

  const failure = $("video-failure");
  failure.hidden = video.status !== "failed";
  if (video.status === "failed") {
    const error = video.error && typeof video.error === "object" ? video.error : {};
    setText("failure-code", text(error.code, "Error"));
    setText("failure-message", text(error.message, "No reason was recorded."));
  }

  const active = ACTIVE.has(video.status);
  $("video-progress").hidden = !active;
  if (active) {
    const value = Math.max(0, Math.min(100, Number(video.progress) || 0));
    $("video-progress-bar").value = value;
    setText(
      "video-progress-text",
      video.status === "queued" ? "Queued: waiting for processing capacity…" : `Processing: ${value}%`,
    );
  }

  const playable = video.status === "completed" && video.transcoding;
  // Playable while processing (`playback.state` "partial"): the growing HLS from the start,
  // following the live edge; at completion the same player plays on to the end.
  const live = video.status === "processing" && video.playback && safeUrl(video.playback.hlsUrl);
  $("player-live").hidden = !live;
  if (live && page.runId !== "live") {
    page.runId = "live";
    setupLivePlayer(video);
  } else if (playable && page.runId === "live" && player.hls) {
    page.runId = video.runId; // the live player goes on (its playlists end now): its extras
    completeLivePlayer(video);
  } else if (playable && video.runId !== page.runId) {
    page.runId = video.runId;
    setupPlayer(video);
  } else if (!playable && !live) {
    page.runId = null;
    teardownPlayer();
    $("player-area").hidden = true;
  }
  renderDetails(video);
}

async function videoTick(current) {
  const video = await api("GET", videoPath(page.id));
  if (!current()) return false;
  renderVideo(video);
  return ACTIVE.has(video.status);
}

/** A state from the events route: status and progress now; the whole item once it is final. */
function onVideoState(state) {
  if (!page.video || FINAL.has(state.status)) return;
  const playback = state.playback || page.video.playback;
  renderVideo({ ...page.video, status: state.status, progress: state.progress, error: state.error, playback });
}

/** Following ended (completed or failed): load the item once, with everything it now has. */
async function onVideoEnd() {
  const id = page.id;
  try {
    const video = await api("GET", videoPath(id));
    if (page.id === id) renderVideo(video);
  } catch (error) {
    if (page.id === id) setText("video-error", describeError(error));
  }
}

const videoUpdates = new EventFollower({
  path: () => `${videoPath(page.id)}/events`,
  onState: onVideoState,
  onEnd: onVideoEnd,
  fallback: new LiveUpdates(videoTick),
});

async function processAgain() {
  const video = page.video;
  if (!video) return;
  const button = $("process-again");
  button.disabled = true;
  setText("video-error", "");
  try {
    await api("POST", `${videoPath(video.id)}/process`);
    renderVideo({ ...video, status: "queued", progress: 0, error: undefined });
    videoUpdates.watch();
  } catch (error) {
    setText("video-error", describeError(error));
    button.disabled = !REPROCESSABLE.has(video.status);
  }
}

// --- details ----------------------------------------------------------------------------------

function renderDetails(video) {
  const media = video.media || {};
  const info = $("media-info");
  const rows = [
    ["Status", text(video.status)],
    ["Duration", formatDuration(media.duration)],
    ["Resolution", media.width && media.height ? `${media.width} × ${media.height}` : "—"],
    ["Frame rate", media.fps ? `${media.fps} fps` : "—"],
    ["Video codec", text(media.videoCodec)],
    ["Audio codec", media.hasAudio === false ? "no audio" : text(media.audioCodec)],
    ["Container", text(media.container)],
    ["Source bitrate", formatBitrate(media.bitrate)],
    ["Created", formatDate(video.createdAt) || "—"],
    ["Updated", formatDate(video.updatedAt) || "—"],
    ["Processing time", video.processingTimeMs ? `${(video.processingTimeMs / 1000).toFixed(1)} s` : "—"],
  ];
  const loudness = video.analysis && video.analysis.loudness;
  if (loudness && loudness.integratedLufs !== undefined) {
    rows.push(["Loudness", `${text(loudness.integratedLufs)} LUFS integrated`]);
  }
  const known = rows.filter(([, value]) => value && value !== "—"); // a failed video has few
  info.replaceChildren(...known.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));

  const formats = (video.transcoding && video.transcoding.formats) || [];
  $("renditions-block").hidden = !formats.length;
  $("renditions").tBodies[0].replaceChildren(
    ...formats.map((f) => {
      const url = safeUrl(f.url);
      const link = url ? el("a", { href: url, text: "MP4", download: "", rel: "noreferrer" }) : "—";
      return el(
        "tr",
        {},
        el("td", { text: text(f.quality) }),
        el("td", { text: f.width && f.height ? `${f.width} × ${f.height}` : "—" }),
        el("td", { text: formatBitrate(f.bitrate) }),
        el("td", { text: formatBytes(f.size) }),
        el("td", {}, link),
      );
    }),
  );

  const subs = video.subtitles;
  $("subtitles-block").hidden = !subs;
  let subsText = "—";
  if (subs && subs.vttUrl) {
    subsText = `${subs.wordCount ?? 0} words, language ${text(subs.language, "unknown")}.`;
  } else if (subs && subs.reason) {
    subsText = `None: ${subs.reason}`;
  }
  setText("subtitles-info", subsText);

  const frames = (video.analysis && Array.isArray(video.analysis.text) && video.analysis.text) || [];
  const lines = frames.flatMap((frame) =>
    (frame.lines || []).map((line) => `${formatTime(frame.time)}  ${text(line.text, "")}`),
  );
  $("text-block").hidden = !lines.length;
  $("text-list").replaceChildren(...lines.slice(0, 50).map((line) => el("li", { text: line })));

  const stages = video.stages && typeof video.stages === "object" ? Object.entries(video.stages) : [];
  $("stages-block").hidden = !stages.length;
  $("stages").tBodies[0].replaceChildren(
    ...stages.map(([name, stage]) =>
      el(
        "tr",
        {},
        el("td", { text: name }),
        el("td", { text: text(stage && stage.status) }),
        el("td", { text: stage && Number.isFinite(stage.ms) ? `${stage.ms} ms` : "—" }),
        el("td", { text: text(stage && stage.reason, "") }),
      ),
    ),
  );
}

// --- the player -------------------------------------------------------------------------------

const player = { hls: null, storyboard: [], duration: 0, blobUrls: [], generation: 0 };

let hlsLoading = null;

/** hls.js, loaded on first use from this server (committed, see VENDOR.md). */
function loadHls() {
  if (window.Hls) return Promise.resolve(window.Hls);
  if (!hlsLoading) {
    hlsLoading = new Promise((resolve) => {
      const script = el("script", { src: HLS_SCRIPT });
      script.addEventListener("load", () => resolve(window.Hls || null));
      script.addEventListener("error", () => resolve(null));
      document.head.append(script);
    });
  }
  return hlsLoading;
}

function teardownPlayer() {
  player.generation += 1;
  if (player.hls) {
    player.hls.destroy();
    player.hls = null;
  }
  const video = $("player");
  video.pause();
  video.removeAttribute("src");
  video.removeAttribute("poster");
  for (const track of video.querySelectorAll("track")) track.remove();
  teardownMediaText();
  video.load();
  for (const url of player.blobUrls) URL.revokeObjectURL(url);
  player.blobUrls = [];
  player.storyboard = [];
  $("quality-select").replaceChildren();
  $("analysis-lanes").replaceChildren();
  $("storyboard-preview").hidden = true;
  $("timeline-played").style.width = "0";
}

function pickFallbackFormat(formats) {
  const usable = formats.filter((f) => safeUrl(f.url));
  const fitting = usable.filter((f) => (f.height || 0) <= 720);
  const pool = fitting.length ? fitting : usable;
  return pool.sort((a, b) => (b.height || 0) - (a.height || 0))[0] || null;
}

/** Progressive MP4: the rendition picked in the quality menu, keeping the position. */
function playMp4(formats, chosen, reason) {
  const video = $("player");
  const select = $("quality-select");
  select.replaceChildren(
    ...formats
      .filter((f) => safeUrl(f.url))
      .map((f) => el("option", { value: safeUrl(f.url), text: `${text(f.quality)} (MP4, ${formatBitrate(f.bitrate)})` })),
  );
  const start = safeUrl(chosen && chosen.url);
  if (!start) {
    setText("player-engine", "No playable rendition.");
    return;
  }
  select.value = start;
  video.src = start;
  select.onchange = () => {
    const at = video.currentTime;
    const playing = !video.paused;
    video.src = select.value;
    video.addEventListener(
      "loadedmetadata",
      () => {
        video.currentTime = at;
        if (playing) video.play().catch(() => {});
      },
      { once: true },
    );
  };
  setText("player-engine", reason);
}

async function setupPlayer(item) {
  teardownPlayer();
  const generation = player.generation;
  const video = $("player");
  $("player-area").hidden = false;
  const poster = safeUrl(item.thumbnail && item.thumbnail.url);
  if (poster) video.poster = poster;
  player.duration = Number(item.media && item.media.duration) || Number(item.transcoding.duration) || 0;
  addSubtitles(item, generation);
  setupMediaText(item, generation);
  loadStoryboard(item, generation);
  renderAnalysis(item);
  updatePlayhead();

  const formats = Array.isArray(item.transcoding.formats) ? item.transcoding.formats : [];
  const master = safeUrl(item.transcoding.hls && item.transcoding.hls.masterUrl);
  if (master) {
    const Hls = await loadHls();
    if (generation !== player.generation) return;
    // Chromium may answer "maybe" to canPlayType(HLS) without playing it well: hls.js first.
    if (Hls && Hls.isSupported()) {
      startHls(Hls, master, formats, generation);
      return;
    }
    if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = master;
      const select = $("quality-select");
      select.replaceChildren(el("option", { value: "auto", text: "Auto (native HLS)" }));
      select.onchange = null;
      setText("player-engine", "Adaptive streaming by the browser (HLS).");
      return;
    }
  }
  playMp4(formats, pickFallbackFormat(formats), "Progressive MP4 (no HLS support here).");
}

/** A video still processing: its growing HLS from the start (hls.js reloads the EVENT
 * playlists and waits at their live edge); poster, subtitles and analysis come at completion. */
async function setupLivePlayer(item) {
  teardownPlayer();
  const generation = player.generation;
  $("player-area").hidden = false;
  player.duration = 0;
  updatePlayhead();
  const Hls = await loadHls();
  if (generation !== player.generation) return;
  const master = safeUrl(item.playback.hlsUrl);
  if (Hls && Hls.isSupported()) {
    startHls(Hls, master, [], generation, { startPosition: 0 });
    return;
  }
  const video = $("player");
  if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = master;
    setText("player-engine", "Streaming by the browser (HLS), still processing.");
  } else {
    setText("player-engine", "Playable once processing completes.");
  }
}

/** The live player's video completed: keep playing, add what a completed run has. */
function completeLivePlayer(item) {
  const generation = player.generation;
  player.duration = Number(item.media && item.media.duration) || 0;
  const poster = safeUrl(item.thumbnail && item.thumbnail.url);
  if (poster) $("player").poster = poster;
  addSubtitles(item, generation);
  loadStoryboard(item, generation);
  renderAnalysis(item);
  updatePlayhead();
}

function startHls(Hls, master, formats, generation, options = {}) {
  const video = $("player");
  const select = $("quality-select");
  const hls = new Hls({ enableWorker: true, capLevelToPlayerSize: false, ...options });
  player.hls = hls;
  let recovered = false;
  const autoLabel = () => {
    const level = hls.levels[hls.currentLevel];
    return level && hls.autoLevelEnabled ? `Auto (${level.height}p)` : "Auto";
  };
  hls.on(Hls.Events.MANIFEST_PARSED, () => {
    if (generation !== player.generation) return;
    const options = [el("option", { value: "-1", text: "Auto" })];
    hls.levels.forEach((level, index) => {
      const label = `${level.height ? `${level.height}p` : `Level ${index + 1}`} (${formatBitrate(level.bitrate)})`;
      options.push(el("option", { value: String(index), text: label }));
    });
    select.replaceChildren(...options);
    select.value = "-1";
    setText("player-engine", "Adaptive streaming (HLS, hls.js).");
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, () => {
    if (select.options[0]) select.options[0].textContent = autoLabel();
  });
  hls.on(Hls.Events.ERROR, (_event, data) => {
    if (!data || !data.fatal || generation !== player.generation) return;
    if (!recovered && data.type === Hls.ErrorTypes.MEDIA_ERROR) {
      recovered = true;
      hls.recoverMediaError();
      return;
    }
    hls.destroy();
    player.hls = null;
    playMp4(formats, pickFallbackFormat(formats), `HLS failed (${text(data.details, "error")}); playing MP4.`);
  });
  select.onchange = () => {
    hls.currentLevel = Number(select.value);
  };
  hls.loadSource(master);
  hls.attachMedia(video);
}

/** Subtitles as a <track>; a VTT on another origin is fetched (CORS) and given as a blob. */
async function addSubtitles(item, generation) {
  const subs = item.subtitles;
  const url = safeUrl(subs && subs.vttUrl);
  if (!url) return;
  let src = url;
  if (new URL(url).origin !== location.origin) {
    try {
      const response = await fetch(url, { credentials: "omit" });
      if (!response.ok) throw new Error(String(response.status));
      src = URL.createObjectURL(new Blob([await response.text()], { type: "text/vtt" }));
      player.blobUrls.push(src);
    } catch {
      return;
    }
    if (generation !== player.generation) return;
  }
  const language = typeof subs.language === "string" && /^[a-zA-Z-]{2,12}$/.test(subs.language) ? subs.language : "und";
  const track = el("track", {
    kind: "subtitles",
    src,
    srclang: language,
    label: language === "und" ? "Subtitles" : `Subtitles (${language})`,
    default: true,
  });
  $("player").append(track);
  track.track.mode = "showing";
}

// --- storyboard on the timeline ---------------------------------------------------------------

function parseVttTime(value) {
  const parts = value.trim().split(":").map(Number);
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !Number.isFinite(p))) return NaN;
  return parts.reduce((total, part) => total * 60 + part, 0);
}

/** The storyboard index: WebVTT cues whose text is `sprite-url#xywh=x,y,w,h`. */
function parseStoryboard(vtt, baseUrl) {
  const cues = [];
  const blocks = String(vtt).replace(/\r\n?/g, "\n").split(/\n{2,}/);
  for (const block of blocks) {
    const lines = block.split("\n").map((l) => l.trim()).filter(Boolean);
    const at = lines.findIndex((l) => l.includes("-->"));
    if (at < 0 || at + 1 >= lines.length) continue;
    const [from, to] = lines[at].split("-->");
    const start = parseVttTime(from);
    const end = parseVttTime(to.trim().split(/\s+/)[0]);
    const ref = lines[at + 1];
    const hash = ref.lastIndexOf("#xywh=");
    if (hash < 0) continue;
    const [x, y, w, h] = ref.slice(hash + 6).split(",").map(Number);
    let url = null;
    try {
      url = safeUrl(new URL(ref.slice(0, hash), baseUrl).href);
    } catch {
      url = null;
    }
    if (url && [start, end, x, y, w, h].every(Number.isFinite) && w > 0 && h > 0) {
      cues.push({ start, end, url, x, y, w, h });
    }
  }
  return cues;
}

async function loadStoryboard(item, generation) {
  const url = safeUrl(item.storyboard && item.storyboard.vttUrl);
  if (!url) return;
  try {
    const response = await fetch(url, { credentials: "omit" });
    if (!response.ok) return;
    const cues = parseStoryboard(await response.text(), url);
    if (generation === player.generation) player.storyboard = cues;
  } catch {
    // no thumbnails on hover; the timeline still seeks
  }
}

function mediaDuration() {
  const video = $("player");
  return Number.isFinite(video.duration) && video.duration > 0 ? video.duration : player.duration;
}

function timeAt(clientX) {
  const rect = $("timeline").getBoundingClientRect();
  const fraction = Math.max(0, Math.min(1, (clientX - rect.left) / rect.width));
  return { fraction, time: fraction * mediaDuration(), rect };
}

function showPreview(clientX) {
  const { time, rect } = timeAt(clientX);
  const preview = $("storyboard-preview");
  const cue =
    player.storyboard.find((c) => time >= c.start && time < c.end) ||
    (player.storyboard.length && time >= player.storyboard.at(-1).start ? player.storyboard.at(-1) : null);
  const frame = $("storyboard-frame");
  const img = $("storyboard-img");
  frame.hidden = !cue;
  let width = 60;
  if (cue) {
    if (img.getAttribute("src") !== cue.url) img.src = cue.url;
    frame.style.width = `${cue.w}px`;
    frame.style.height = `${cue.h}px`;
    img.style.transform = `translate(${-cue.x}px, ${-cue.y}px)`;
    width = cue.w;
  }
  setText("storyboard-time", formatTime(time));
  const left = Math.max(0, Math.min(rect.width - width, clientX - rect.left - width / 2));
  preview.style.left = `${left}px`;
  preview.hidden = false;
}

function seek(time) {
  const video = $("player");
  const duration = mediaDuration();
  const target = Math.max(0, duration ? Math.min(duration, time) : time);
  video.currentTime = target;
  updatePlayhead(target);
}

function updatePlayhead(at) {
  const video = $("player");
  const duration = mediaDuration();
  const time = at ?? video.currentTime ?? 0;
  const percent = duration ? Math.min(100, (time / duration) * 100) : 0;
  $("timeline-played").style.width = `${percent}%`;
  const timeline = $("timeline");
  timeline.setAttribute("aria-valuemax", String(Math.round(duration)));
  timeline.setAttribute("aria-valuenow", String(Math.round(time)));
  timeline.setAttribute("aria-valuetext", `${formatTime(time)} of ${formatDuration(duration)}`);
  for (const head of document.querySelectorAll(".lane-playhead")) head.style.left = `${percent}%`;
}

function setupTimeline() {
  const timeline = $("timeline");
  timeline.addEventListener("pointermove", (event) => showPreview(event.clientX));
  timeline.addEventListener("pointerenter", (event) => showPreview(event.clientX));
  timeline.addEventListener("pointerleave", () => {
    $("storyboard-preview").hidden = true;
  });
  timeline.addEventListener("click", (event) => seek(timeAt(event.clientX).time));
  timeline.addEventListener("keydown", (event) => {
    const video = $("player");
    const duration = mediaDuration();
    const steps = {
      ArrowLeft: -5,
      ArrowRight: 5,
      ArrowDown: -5,
      ArrowUp: 5,
      PageDown: -duration / 10,
      PageUp: duration / 10,
    };
    if (event.key in steps) seek(video.currentTime + steps[event.key]);
    else if (event.key === "Home") seek(0);
    else if (event.key === "End") seek(duration);
    else return;
    event.preventDefault();
  });
  const video = $("player");
  video.addEventListener("timeupdate", () => updatePlayhead());
  video.addEventListener("seeked", () => updatePlayhead());
  video.addEventListener("durationchange", () => updatePlayhead());
}

// --- analysis lanes ---------------------------------------------------------------------------

function renderAnalysis(item) {
  const analysis = item.analysis && typeof item.analysis === "object" ? item.analysis : {};
  const list = (value) => (Array.isArray(value) ? value : []);
  const lanes = [
    {
      name: "Scene cuts",
      kind: "cut",
      marks: list(analysis.sceneCuts).map((c) => ({
        start: Number(c.time),
        label: `Scene cut at ${formatTime(Number(c.time))}`,
      })),
    },
    {
      name: "Black",
      kind: "black",
      marks: list(analysis.blackSegments).map((s) => ({
        start: Number(s.start),
        end: Number(s.end),
        label: `Black from ${formatTime(Number(s.start))} to ${formatTime(Number(s.end))}`,
      })),
    },
    {
      name: "Silence",
      kind: "silence",
      marks: list(analysis.silences).map((s) => ({
        start: Number(s.start),
        end: Number(s.end),
        label: `Silence from ${formatTime(Number(s.start))} to ${formatTime(Number(s.end))}`,
      })),
    },
  ];
  const duration = player.duration;
  const container = $("analysis-lanes");
  const empty = $("analysis-empty");
  if (!duration || analysis.status === "skipped" || analysis.status === "failed") {
    container.replaceChildren();
    empty.hidden = false;
    empty.textContent = analysis.reason ? `No analysis: ${analysis.reason}` : "No analysis for this video.";
    return;
  }
  empty.hidden = true;
  container.replaceChildren(...lanes.map((lane) => renderLane(lane, duration)));
}

function renderLane(lane, duration) {
  const marks = lane.marks.filter((m) => Number.isFinite(m.start)).slice(0, 500);
  const labelId = `lane-${lane.kind}`;
  const bar = el("div", { class: "lane-bar", role: "group", "aria-labelledby": labelId });
  marks.forEach((mark, index) => {
    const button = el("button", {
      type: "button",
      class: `mark ${lane.kind}`,
      title: mark.label,
      "aria-label": mark.label,
      "data-time": String(mark.start),
      tabIndex: index === 0 ? 0 : -1,
    });
    button.style.left = `${Math.max(0, Math.min(100, (mark.start / duration) * 100))}%`;
    if (Number.isFinite(mark.end)) {
      const width = ((mark.end - mark.start) / duration) * 100;
      button.style.width = `${Math.max(0.8, Math.min(100, width))}%`;
    }
    button.addEventListener("click", () => seek(mark.start));
    bar.append(button);
  });
  bar.append(el("div", { class: "lane-playhead", "aria-hidden": "true" }));
  // One tab stop per lane; arrow keys move between its marks (roving tabindex).
  bar.addEventListener("keydown", (event) => {
    const buttons = [...bar.querySelectorAll("button.mark")];
    const at = buttons.indexOf(document.activeElement);
    if (at < 0) return;
    const moves = { ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1, Home: 0, End: buttons.length - 1 };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const next = buttons[Math.max(0, Math.min(buttons.length - 1, moves[event.key]))];
    buttons.forEach((b) => (b.tabIndex = b === next ? 0 : -1));
    next.focus();
  });
  const label = el("p", { class: "lane-label", id: labelId, text: `${lane.name} (${marks.length})` });
  return el("div", { class: "lane" }, label, bar);
}

// --- start ------------------------------------------------------------------------------------

function start() {
  $("signin-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut("Signed out."));
  $("upload-form").addEventListener("submit", upload);
  $("upload-cancel").addEventListener("click", abortUpload);
  $("file-input").addEventListener("change", onFileChosen);
  const reloadLibrary = () => {
    library.loaded = false;
    libraryUpdates.stop();
    loadFirstPage().then(() => libraryUpdates.watch());
  };
  $("status-filter").addEventListener("change", (event) => {
    library.status = event.target.value;
    reloadLibrary();
  });
  let searchTimer = null;
  $("search-input").addEventListener("input", (event) => {
    clearTimeout(searchTimer); // one request once typing pauses, not one per key
    searchTimer = setTimeout(() => {
      const query = event.target.value.trim();
      if (query === library.query) return;
      library.query = query;
      reloadLibrary();
    }, SEARCH_DELAY_MS);
  });
  $("load-more").addEventListener("click", loadMore);
  $("process-again").addEventListener("click", processAgain);
  setupDragAndDrop();
  setupTimeline();
  setupMediaTextControls();
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) {
      libraryUpdates.resume();
      videoUpdates.resume();
    }
  });
  window.addEventListener("hashchange", route);
  route();
}

// --- media text (issue 26 part B): chapters, the transcript with search, clips -----------------
const mediaText = { videoId: null, generation: -1, segments: [], chapters: [] };

function teardownMediaText() {
  mediaText.videoId = null;
  mediaText.segments = [];
  mediaText.chapters = [];
  $("chapters-lane").replaceChildren();
  $("transcript-list").replaceChildren();
  setText("transcript-status", "");
  setText("clip-result", "");
}

function setupMediaText(item, generation) {
  mediaText.videoId = item.id;
  mediaText.generation = generation;
  renderChapters(Array.isArray(item.chapters) ? item.chapters : []);
  $("transcript-search").value = "";
  $("clip-start").value = "0";
  $("clip-end").value = String(Number(item.transcoding && item.transcoding.duration) || 0);
  loadTranscript(item.id, generation);
}

/** Chapters as a lane under the timeline: one button per chapter, as wide as it is long. */
function renderChapters(chapters) {
  mediaText.chapters = chapters;
  const total = chapters.length ? Number(chapters[chapters.length - 1].end) || 0 : 0;
  const items = chapters.map((c, index) => {
    const start = Number(c.start) || 0;
    const end = Number(c.end) || start;
    const button = el("button", {
      type: "button",
      text: text(c.title, `Chapter ${index + 1}`),
      title: `${formatTime(start)} ${text(c.title, "")}`,
      "aria-label": `Chapter ${index + 1}: ${text(c.title, "")}, at ${formatTime(start)}`,
    });
    button.dataset.start = String(start);
    button.addEventListener("click", () => seek(start));
    const li = el("li", {}, button);
    li.style.flex = `${Math.max(0.01, total ? (end - start) / total : 1)} 1 0`;
    return li;
  });
  $("chapters-lane").replaceChildren(...items);
}

function transcriptRow(start, label) {
  const button = el("button", { type: "button" }, el("time", { text: formatTime(start) }), label);
  button.dataset.start = String(start);
  button.addEventListener("click", () => seek(start));
  return el("li", {}, button);
}

async function loadTranscript(id, generation) {
  setText("transcript-status", "Loading the transcript…");
  try {
    const doc = await api("GET", `${videoPath(id)}/transcript`);
    if (generation !== player.generation || mediaText.videoId !== id) return;
    mediaText.segments = Array.isArray(doc.segments) ? doc.segments : [];
    showSegments(mediaText.segments);
    setText(
      "transcript-status",
      mediaText.segments.length ? `Language: ${text(doc.language, "unknown")}` : "No speech was heard.",
    );
  } catch (error) {
    if (generation !== player.generation) return;
    setText("transcript-status", error.status === 404 ? "This video has no transcript." : describeError(error));
  }
}

function showSegments(segments) {
  $("transcript-list").replaceChildren(
    ...segments.map((s) => transcriptRow(Number(s.start) || 0, text(s.text, ""))),
  );
}

async function searchTranscript(event) {
  event.preventDefault();
  const id = mediaText.videoId;
  const query = $("transcript-search").value.trim();
  if (!id) return;
  if (!query) {
    showSegments(mediaText.segments);
    setText("transcript-status", "");
    return;
  }
  try {
    const found = await api("GET", `${videoPath(id)}/transcript?q=${encodeURIComponent(query)}`);
    if (mediaText.videoId !== id) return;
    const matches = Array.isArray(found.matches) ? found.matches : [];
    $("transcript-list").replaceChildren(
      ...matches.map((m) => transcriptRow(Number(m.start) || 0, text(m.text, ""))),
    );
    setText("transcript-status", `${matches.length} match${matches.length === 1 ? "" : "es"} for “${query}”`);
  } catch (error) {
    setText("transcript-status", describeError(error));
  }
}

async function makeClip(event) {
  event.preventDefault();
  const id = mediaText.videoId;
  if (!id) return;
  const mode = event.submitter && event.submitter.value === "instant" ? "instant" : "exact";
  const start = Number($("clip-start").value);
  const end = Number($("clip-end").value);
  setText("clip-result", "Making the clip…");
  try {
    const made = await api("POST", `${videoPath(id)}/clips`, { start, end, mode });
    if (mediaText.videoId !== id) return;
    const result = $("clip-result");
    if (mode === "instant") {
      const url = safeUrl(made.hlsUrl);
      result.replaceChildren(
        `Instant clip (${formatTime(made.segmentStart)}–${formatTime(made.segmentEnd)}): `,
        url ? el("a", { href: url, text: "HLS playlist", rel: "noopener" }) : "",
      );
    } else {
      result.replaceChildren(
        "New video: ",
        el("a", { href: `#/videos/${encodeURIComponent(made.id)}`, text: text(made.title, made.id) }),
        ` (${made.status})`,
      );
    }
  } catch (error) {
    setText("clip-result", describeError(error));
  }
}

function setupMediaTextControls() {
  $("transcript-search-form").addEventListener("submit", searchTranscript);
  $("clip-form").addEventListener("submit", makeClip);
  const now = () => (Math.round(($("player").currentTime || 0) * 100) / 100).toFixed(2);
  $("clip-start-now").addEventListener("click", () => {
    $("clip-start").value = now();
  });
  $("clip-end-now").addEventListener("click", () => {
    $("clip-end").value = now();
  });
}

start();
