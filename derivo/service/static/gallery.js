// The derivo gallery: upload with per-file progress, thumbnails as they are ready.
// Photos are listed newest first (capture time) a page at a time as the user scrolls;
// each card paints its ThumbHash placeholder at once and the thumbnail loads lazily over it.
// Uploads and deletes need the bearer token, asked once and kept in localStorage.
// Photos still pending or processing are polled every second until they settle.
"use strict";

const TOKEN_KEY = "derivo-token";
const PARALLEL_UPLOADS = 3;
const POLL_MS = 1000;
const PAGE_SIZE = 60;
const UNDO_MS = 6000;

const $ = (id) => document.getElementById(id);
const photos = new Map();   // id -> photo JSON from the API
const cards = new Map();    // id -> card element
const waiting = [];         // files not sent yet: {file, row}
const deleting = new Map(); // id -> {timer, toast}: deletes that can still be undone
let sending = 0;
let cursor = null;          // next page's cursor; null once the last page is in
let listed = false;         // the first page has arrived
let loadingPage = null;     // the page request in flight
let totals = null;          // counts per status, from the server

// Token

function token() { return localStorage.getItem(TOKEN_KEY); }

function askToken() {
  $("token-form").hidden = false;
  $("forget-token").hidden = true;
  $("token-input").focus();
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  localStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
  $("token-input").value = "";
  $("token-form").hidden = true;
  $("forget-token").hidden = false;
  pump();
});

$("forget-token").addEventListener("click", () => {
  localStorage.removeItem(TOKEN_KEY);
  askToken();
});

// Uploads

function enqueue(files) {
  for (const file of files) {
    const row = document.createElement("li");
    row.innerHTML = '<span class="name"></span><progress max="1" value="0"></progress>' +
      '<span class="state">waiting</span>';
    row.querySelector(".name").textContent = file.name;
    $("uploads").append(row);
    waiting.push({ file, row });
  }
  welcome();
  pump();
}

function pump() {
  if (!token()) {
    if (waiting.length) askToken();
    return;
  }
  while (sending < PARALLEL_UPLOADS && waiting.length) {
    send(waiting.shift());
  }
}

function send({ file, row }) {
  sending += 1;
  const state = row.querySelector(".state");
  const bar = row.querySelector("progress");
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/photos");
  xhr.setRequestHeader("Authorization", "Bearer " + token());
  xhr.responseType = "json";
  xhr.upload.onprogress = (event) => {
    if (event.lengthComputable) bar.value = event.loaded / event.total;
    state.textContent = "uploading " + Math.round(bar.value * 100) + " %";
  };
  xhr.onload = () => {
    sending -= 1;
    const body = xhr.response || {};
    if (xhr.status === 202 || xhr.status === 200 || (xhr.status === 503 && body.photo)) {
      // 503 still means the photo was kept (pending): it is rendered when there is room.
      const photo = xhr.status === 503 ? body.photo : body;
      bar.value = 1;
      state.textContent = body.duplicate ? "already uploaded" : "uploaded";
      track(photo, { first: true });
      refreshCounts();
      setTimeout(() => { row.remove(); welcome(); }, 1500);
    } else if (xhr.status === 401) {
      localStorage.removeItem(TOKEN_KEY);
      waiting.unshift({ file, row });
      state.textContent = "token needed";
      askToken();
    } else {
      fail(row, body.error ? body.error.message : "HTTP " + xhr.status);
    }
    pump();
  };
  xhr.onerror = () => {
    sending -= 1;
    fail(row, "network error");
    pump();
  };
  const form = new FormData();
  form.append("file", file, file.name);
  xhr.send(form);
}

function fail(row, message) {
  row.classList.add("error");
  row.querySelector(".state").textContent = message;
}

// Drop zone and picker

const drop = $("drop");
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  enqueue(event.dataTransfer.files);
});
$("picker").addEventListener("change", (event) => {
  enqueue(event.target.files);
  event.target.value = "";
});

// Grid

// Remember a photo and draw its card; `first` puts a new card at the top (a fresh upload).
function track(photo, { first = false } = {}) {
  if (deleting.has(photo.id)) return;
  const before = photos.get(photo.id);
  if (before && before.status !== photo.status) refreshCounts();
  photos.set(photo.id, photo);
  render(photo, first);
  counts();
  welcome();
}

function render(photo, first) {
  let card = cards.get(photo.id);
  if (!card) {
    card = document.createElement("figure");
    card.className = "card";
    card.dataset.id = photo.id;
    card.innerHTML = '<div class="frame"></div><figcaption></figcaption>' +
      '<button class="delete" type="button" title="Delete" aria-label="Delete">×</button>';
    card.querySelector(".delete").addEventListener("click", () => remove(photo.id));
    cards.set(photo.id, card);
    if (first) $("grid").prepend(card);
    else $("grid").append(card);
  }
  if (card.dataset.status === photo.status) return;
  card.dataset.status = photo.status;
  card.classList.toggle("failed", photo.status === "failed");
  const frame = card.querySelector(".frame");
  const caption = card.querySelector("figcaption");
  const title = photo.name || photo.id;
  frame.replaceChildren();
  caption.textContent = title;
  caption.title = title;
  if (photo.captured_at) {
    const date = document.createElement("span");
    date.className = "date";
    date.textContent = shortDate(photo.captured_at);
    caption.append(date);
  }
  if (photo.status === "done") {
    frame.append(thumbnail(photo, title));
  } else if (photo.status === "failed") {
    const reason = document.createElement("p");
    reason.className = "reason";
    reason.textContent = photo.error || "failed";
    frame.append(reason);
  } else {
    const status = document.createElement("span");
    status.className = "status";
    status.textContent = photo.status + "…";
    frame.append(status);
  }
}

// Which derivative a card and the viewer show: the specs named thumbnail and preview,
// else (a server given other specs) the smallest and the largest that are ready.
function derivative(photo, name, largest) {
  if (photo.derivatives[name]) return photo.derivatives[name];
  const all = Object.values(photo.derivatives);
  const ready = all.filter((d) => d.ready);
  const area = (d) => (d.width || 0) * (d.height || 0);
  return (ready.length ? ready : all).reduce((best, d) =>
    (largest ? area(d) > area(best) : area(d) < area(best)) ? d : best);
}

function thumbnail(photo, title) {
  const thumb = derivative(photo, "thumbnail", false);
  const img = document.createElement("img");
  img.className = "thumb";
  img.alt = title;
  img.loading = "lazy";
  img.decoding = "async";
  if (thumb.width) {
    img.width = thumb.width;
    img.height = thumb.height;
  }
  if (photo.thumbhash) {
    try {
      img.style.backgroundImage = `url(${ThumbHash.toDataURL(photo.thumbhash)})`;
    } catch (error) {
      console.warn("bad placeholder", photo.id, error);
    }
  }
  img.addEventListener("load", () => img.classList.add("loaded"), { once: true });
  img.addEventListener("click", () => show(photo));
  img.src = thumb.url;
  return img;
}

// The capture date as the camera showed it (its own zone), e.g. "11 Apr 2021, 15:47".
function shortDate(iso) {
  const [day, time] = iso.split("T");
  const [y, m, d] = day.split("-").map(Number);
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
    "Nov", "Dec"];
  return `${d} ${months[m - 1]} ${y}, ${time.slice(0, 5)}`;
}

function show(photo) {
  const url = derivative(photo, "preview", true).url;
  $("viewer-img").src = url;
  $("viewer-img").alt = photo.name || photo.id;
  $("viewer-caption").textContent = photo.name || photo.id;
  $("viewer").showModal();
}
$("viewer").addEventListener("click", () => $("viewer").close());

// Deleting: the card goes at once, the request only when the undo time has passed.

function remove(id) {
  if (!token()) return askToken();
  const card = cards.get(id);
  if (!card || deleting.has(id)) return;
  card.hidden = true;
  const photo = photos.get(id);
  const toast = document.createElement("li");
  toast.innerHTML = '<span></span><button type="button" class="undo">Undo</button>';
  toast.querySelector("span").textContent = `Deleted “${photo.name || id}”.`;
  toast.querySelector(".undo").addEventListener("click", () => undo(id));
  $("toasts").append(toast);
  deleting.set(id, { toast, timer: setTimeout(() => commitDelete(id), UNDO_MS) });
  counts();
}

function undo(id) {
  const pending = deleting.get(id);
  if (!pending) return;
  clearTimeout(pending.timer);
  pending.toast.remove();
  deleting.delete(id);
  cards.get(id).hidden = false;
  counts();
}

async function commitDelete(id, { keepalive = false } = {}) {
  const pending = deleting.get(id);
  if (!pending) return;
  pending.toast.remove();
  const response = await fetch("/photos/" + encodeURIComponent(id), {
    method: "DELETE", headers: { Authorization: "Bearer " + token() }, keepalive,
  }).catch(() => null);
  deleting.delete(id);
  if (response && (response.status === 204 || response.status === 404)) {
    cards.get(id)?.remove();
    cards.delete(id);
    photos.delete(id);
    refreshCounts();
    welcome();
    return;
  }
  cards.get(id).hidden = false;
  counts();
  if (response && response.status === 401) {
    localStorage.removeItem(TOKEN_KEY);
    askToken();
    return;
  }
  const body = response ? await response.json().catch(() => ({})) : {};
  note(body.error ? body.error.message : "delete failed: " +
    (response ? "HTTP " + response.status : "network error"));
}

// Deletes still in their undo time are sent when the page goes away.
window.addEventListener("pagehide", () => {
  for (const id of deleting.keys()) commitDelete(id, { keepalive: true });
});

function note(message) {
  const toast = document.createElement("li");
  toast.innerHTML = '<span></span><button type="button">OK</button>';
  toast.querySelector("span").textContent = message;
  toast.querySelector("button").addEventListener("click", () => toast.remove());
  $("toasts").append(toast);
}

function counts() {
  if (!totals) return;
  const shown = totals.total - deleting.size;
  $("counts").textContent = `${shown} photos: ${totals.by.done} done, ` +
    `${totals.by.pending + totals.by.processing} in progress, ${totals.by.failed} failed`;
}

function welcome() {
  const empty = listed && cards.size === 0 && $("uploads").children.length === 0;
  $("welcome").hidden = !empty;
}

// Paging: the next page is asked for when the end of the grid comes near.

async function loadPage() {
  if (loadingPage || (listed && !cursor)) return loadingPage;
  const query = new URLSearchParams({ order: "captured", limit: String(PAGE_SIZE) });
  if (cursor) query.set("after", cursor);
  $("more").textContent = "Loading…";
  loadingPage = (async () => {
    try {
      const response = await fetch("/photos?" + query);
      if (!response.ok) throw new Error("HTTP " + response.status);
      const page = await response.json();
      if (page.counts) setTotals(page.counts);
      for (const photo of page.photos) if (!cards.has(photo.id)) track(photo);
      cursor = page.next;
      listed = true;
      $("more").textContent = cursor ? "" : (cards.size ? "That is all." : "");
      welcome();
    } catch (error) {
      $("more").textContent = "Could not load photos; scroll to retry.";
      console.warn("listing photos failed", error);
    } finally {
      loadingPage = null;
    }
  })();
  await loadingPage;
  if (cursor && nearEnd()) loadPage();
}

// The counts come with every listing; one small listing asks for them after a change.
let countsTimer = null;
function refreshCounts() {
  clearTimeout(countsTimer);
  countsTimer = setTimeout(async () => {
    const response = await fetch("/photos?limit=1").catch(() => null);
    if (response && response.ok) {
      const page = await response.json();
      if (page.counts) setTotals(page.counts);
    }
  }, 100);
}

function setTotals(byStatus) {
  const by = { pending: 0, processing: 0, done: 0, failed: 0, ...byStatus };
  totals = { by, total: by.pending + by.processing + by.done + by.failed };
  counts();
}

function nearEnd() {
  return $("more").getBoundingClientRect().top < window.innerHeight + 800;
}

new IntersectionObserver((entries) => {
  if (entries.some((entry) => entry.isIntersecting)) loadPage();
}, { rootMargin: "800px 0px" }).observe($("more"));

// Live status: photos still in progress are asked for until they settle.

async function listAll(status) {
  const found = [];
  let after = null;
  do {
    const query = new URLSearchParams({ limit: "500", status });
    if (after) query.set("after", after);
    const response = await fetch("/photos?" + query);
    if (!response.ok) throw new Error("HTTP " + response.status);
    const page = await response.json();
    found.push(...page.photos);
    if (page.counts) setTotals(page.counts);
    after = page.next;
  } while (after);
  return found;
}

async function poll() {
  try {
    const open = [...photos.values()].filter(
      (p) => p.status === "pending" || p.status === "processing");
    if (open.length) {
      const busy = new Map();
      for (const status of ["pending", "processing"]) {
        for (const photo of await listAll(status)) busy.set(photo.id, photo);
      }
      for (const photo of open) {
        const now = busy.get(photo.id);
        if (now) {
          track(now);
        } else {
          const response = await fetch(photo.url);
          if (response.ok) track(await response.json());
        }
      }
    }
  } catch (error) {
    console.warn("status poll failed", error);
  }
  setTimeout(poll, POLL_MS);
}

function start() {
  if (token()) $("forget-token").hidden = false;
  loadPage();
  poll();
}

start();
