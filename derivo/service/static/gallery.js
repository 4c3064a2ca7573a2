// The derivo gallery: upload with per-file progress, thumbnails as they are ready.
// Uploads and deletes need the bearer token, asked once and kept in localStorage.
// Live status is polled: photos still pending or processing are listed every second.
"use strict";

const TOKEN_KEY = "derivo-token";
const PARALLEL_UPLOADS = 3;
const POLL_MS = 1000;

const $ = (id) => document.getElementById(id);
const photos = new Map();   // id -> photo JSON from the API
const cards = new Map();    // id -> card element
const waiting = [];         // files not sent yet: {file, row}
let sending = 0;

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
      track(photo, file.name);
      setTimeout(() => row.remove(), 1500);
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

function track(photo, name) {
  if (name && !photo.name) photo.name = name;
  const known = photos.get(photo.id);
  if (known && known.name && !photo.name) photo.name = known.name;
  photos.set(photo.id, photo);
  render(photo);
  counts();
}

function render(photo) {
  let card = cards.get(photo.id);
  if (!card) {
    card = document.createElement("figure");
    card.className = "card";
    card.dataset.id = photo.id;
    card.innerHTML = '<div class="frame"></div><figcaption></figcaption>' +
      '<button class="delete" type="button" title="Delete">×</button>';
    card.querySelector(".delete").addEventListener("click", () => remove(photo.id));
    cards.set(photo.id, card);
    const grid = $("grid");
    // newest first
    const after = [...grid.children].find(
      (other) => photos.get(other.dataset.id).created_at < photo.created_at);
    grid.insertBefore(card, after || null);
  }
  if (card.dataset.status === photo.status) return;
  card.dataset.status = photo.status;
  card.classList.toggle("failed", photo.status === "failed");
  const frame = card.querySelector(".frame");
  const caption = card.querySelector("figcaption");
  frame.replaceChildren();
  caption.textContent = photo.name || photo.id;
  if (photo.status === "done") {
    const img = document.createElement("img");
    img.className = "thumb";
    img.src = photo.derivatives.thumbnail.url;
    img.alt = photo.name || photo.id;
    img.addEventListener("click", () => show(photo));
    frame.append(img);
    if (photo.width) caption.textContent += ` · ${photo.width}×${photo.height}`;
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

function show(photo) {
  const url = (photo.derivatives.preview || photo.derivatives.thumbnail).url;
  $("viewer-img").src = url;
  $("viewer-img").alt = photo.name || photo.id;
  $("viewer-caption").textContent = photo.name || photo.id;
  $("viewer").showModal();
}
$("viewer").addEventListener("click", () => $("viewer").close());

async function remove(id) {
  if (!token()) return askToken();
  const response = await fetch("/photos/" + encodeURIComponent(id), {
    method: "DELETE", headers: { Authorization: "Bearer " + token() },
  });
  if (response.status === 204 || response.status === 404) {
    cards.get(id)?.remove();
    cards.delete(id);
    photos.delete(id);
    counts();
  } else if (response.status === 401) {
    localStorage.removeItem(TOKEN_KEY);
    askToken();
  } else {
    const body = await response.json().catch(() => ({}));
    alert(body.error ? body.error.message : "delete failed: HTTP " + response.status);
  }
}

function counts() {
  const by = { pending: 0, processing: 0, done: 0, failed: 0 };
  for (const photo of photos.values()) by[photo.status] += 1;
  $("counts").textContent = `${photos.size} photos: ${by.done} done, ` +
    `${by.pending + by.processing} in progress, ${by.failed} failed`;
}

// Live status

async function listAll(status) {
  const found = [];
  let after = null;
  do {
    const query = new URLSearchParams({ limit: "500" });
    if (status) query.set("status", status);
    if (after) query.set("after", after);
    const response = await fetch("/photos?" + query);
    if (!response.ok) throw new Error("HTTP " + response.status);
    const page = await response.json();
    found.push(...page.photos);
    after = page.next;
  } while (after);
  return found;
}

async function poll() {
  try {
    const open = [...photos.values()].filter((p) => p.status === "pending" || p.status === "processing");
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

async function start() {
  if (token()) $("forget-token").hidden = false;
  try {
    for (const photo of await listAll(null)) track(photo);
  } catch (error) {
    console.warn("listing photos failed", error);
  }
  counts();
  poll();
}

start();
