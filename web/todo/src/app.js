// MyTodoList: the app shell. It loads config.json (written for the stack it is served
// from), restores the session, and wires the views: account, to-dos (optimistic, with
// ETags and an offline queue), files (loaded on demand) and the account page.

import { Api } from "./api.js";
import { Auth, claimsOf } from "./auth.js";
import { AppError, formatBytes, isNetworkError, messageFor } from "./messages.js";
import { Queue, TEMP_PREFIX } from "./queue.js";

const $ = (id) => document.getElementById(id);
const API_CACHE = "mytodolist-api";
const DEFAULT_MAX_UPLOAD = 1024 * 1024 * 1024;

const state = {
  config: null,
  auth: null,
  api: null,
  queue: null,
  todos: [],
  nextToken: null,
  pendingEmail: "",
  pendingPassword: "",
  folder: null,
  replaceFile: null,
};

// ---- messages and views ----------------------------------------------------------

function showError(err, action) {
  if (err && !(err instanceof AppError)) console.error(action || "error", err);
  const box = $("alert");
  box.textContent = typeof err === "string" ? err : messageFor(err, action);
  box.hidden = false;
  $("notice").hidden = true;
}

function notify(text) {
  const box = $("notice");
  box.textContent = text;
  box.hidden = !text;
  $("alert").hidden = true;
}

function clearMessages() {
  $("alert").hidden = true;
  $("notice").hidden = true;
}

function show(view) {
  for (const el of document.querySelectorAll(".view")) el.hidden = el.id !== "view-" + view;
  $("loading").hidden = true;
  const signedIn = ["todos", "files", "account"].includes(view);
  $("tabs").hidden = !signedIn;
  for (const b of $("tabs").querySelectorAll("button")) {
    if (b.dataset.view === view) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  if (view === "files") openFiles();
  if (view === "account") $("who").textContent = state.auth.claims.email || "";
}

/** busy disables a form's buttons while fn runs. */
async function busy(form, fn) {
  const buttons = form.querySelectorAll("button");
  for (const b of buttons) b.disabled = true;
  try {
    return await fn();
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

// ---- theme and network status ----------------------------------------------------

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  const dark = theme === "dark";
  $("theme").setAttribute("aria-pressed", String(dark));
}

function initTheme() {
  const saved = localStorage.getItem("mytodolist.theme");
  const prefersDark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  applyTheme(saved || (prefersDark ? "dark" : "light"));
  $("theme").addEventListener("click", () => {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    localStorage.setItem("mytodolist.theme", next);
    applyTheme(next);
  });
}

function updateNet() {
  $("net").textContent = navigator.onLine ? "" : "Offline";
}

// ---- config and start -------------------------------------------------------------

async function loadConfig() {
  const r = await fetch("config.json", { cache: "no-cache" });
  if (!r.ok) throw new AppError("config", "MyTodoList is not set up on this server yet (config.json is missing).");
  const c = await r.json();
  for (const k of ["region", "userPoolId", "clientId"]) {
    if (!c[k]) throw new AppError("config", `MyTodoList is not set up correctly on this server (config.json has no ${k}).`);
  }
  c.maxUploadBytes = c.maxUploadBytes || DEFAULT_MAX_UPLOAD;
  return c;
}

async function start() {
  initTheme();
  updateNet();
  window.addEventListener("online", () => {
    updateNet();
    if (state.auth && state.auth.signedIn) sync();
  });
  window.addEventListener("offline", updateNet);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("sw.js", { scope: "./" }).catch((err) => console.warn("service worker", err));
  }
  wire();
  try {
    state.config = await loadConfig();
  } catch (err) {
    $("loading").hidden = true;
    showError(isNetworkError(err) || err instanceof TypeError ? "You're offline and MyTodoList has not been opened here before." : err);
    return;
  }
  state.auth = new Auth(state.config, window.localStorage);
  state.api = new Api(state.config.apiUrl || "", state.auth);
  try {
    if (await state.auth.restore()) return signedIn();
  } catch (err) {
    if (!isNetworkError(err)) return signedOut(messageFor(err, "session"));
    // Offline with an expired id token: show the last list the service worker kept.
    return signedIn({ offline: true });
  }
  signedOut();
}

function signedOut(message) {
  state.todos = [];
  state.folder = null;
  $("todo-list").replaceChildren();
  $("file-list").replaceChildren();
  show("signin");
  if (message) notify(message);
}

async function signedIn({ offline = false } = {}) {
  const sub = state.auth.claims.sub || currentSubFromStorage();
  state.queue = new Queue(window.localStorage, "mytodolist.queue." + sub);
  show("todos");
  if (!offline) await sync();
  await loadTodos();
}

function currentSubFromStorage() {
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i);
    if (k && k.endsWith(".idToken")) return claimsOf(localStorage.getItem(k)).sub || "";
  }
  return "";
}

// ---- to-dos -------------------------------------------------------------------------

async function loadTodos(more = false) {
  try {
    const page = await state.api.list(more ? state.nextToken : undefined);
    state.todos = more ? state.todos.concat(page.items) : page.items;
    state.nextToken = page.nextToken;
  } catch (err) {
    if (!isNetworkError(err)) return handleApiError(err, "todo");
    notify("You're offline: this is the list as it was last loaded.");
  }
  render();
}

/** pendingTodos are the to-dos created offline, from the queue. */
function pendingTodos() {
  return state.queue ? state.queue.list().filter((o) => o.kind === "create").map((o) => ({ ...o.body, id: o.id, version: 0, pending: true })) : [];
}

function render() {
  const list = $("todo-list");
  const queued = state.queue ? state.queue.list() : [];
  const items = pendingTodos().reverse().concat(state.todos);
  list.replaceChildren(...items.map((t) => todoItem(t, queued.some((o) => o.id === t.id))));
  $("empty").hidden = items.length > 0;
  $("more").hidden = !state.nextToken;
  $("sync").textContent = queued.length ? `${queued.length} ${queued.length === 1 ? "change is" : "changes are"} waiting to sync.` : "";
}

function todoItem(t, pending) {
  const li = document.createElement("li");
  li.className = "todo" + (t.done ? " done" : "");
  li.dataset.id = t.id;
  const box = document.createElement("input");
  box.type = "checkbox";
  box.id = "done-" + t.id;
  box.checked = !!t.done;
  box.addEventListener("change", () => change(t, { done: box.checked }));
  const label = document.createElement("label");
  label.htmlFor = box.id;
  label.textContent = t.title;
  const text = document.createElement("div");
  text.className = "text";
  text.append(label);
  if (t.notes) {
    const p = document.createElement("p");
    p.className = "notes";
    p.textContent = t.notes;
    text.append(p);
  }
  if (t.dueAt) {
    const p = document.createElement("p");
    p.className = "due";
    p.textContent = "Due " + new Date(t.dueAt).toLocaleString();
    text.append(p);
  }
  if (pending) {
    const p = document.createElement("p");
    p.className = "badge";
    p.textContent = "Waiting to sync";
    text.append(p);
  }
  const edit = document.createElement("button");
  edit.type = "button";
  edit.textContent = "Edit";
  edit.setAttribute("aria-label", "Edit " + t.title);
  edit.addEventListener("click", () => openEdit(t));
  const del = document.createElement("button");
  del.type = "button";
  del.className = "danger";
  del.textContent = "Delete";
  del.setAttribute("aria-label", "Delete " + t.title);
  del.addEventListener("click", () => remove(t));
  li.append(box, text, edit, del);
  return li;
}

/** offline tells whether a failed write should wait in the queue. */
function offline(err) {
  return !navigator.onLine || isNetworkError(err);
}

async function add(title) {
  const body = { title };
  if (!navigator.onLine) {
    state.queue.push({ kind: "create", id: Queue.newTempId(), body });
    render();
    notify("You're offline: the to-do will be added when you're back online.");
    return;
  }
  try {
    const t = await state.api.create(body);
    state.todos.unshift(t);
    render();
  } catch (err) {
    if (offline(err)) {
      state.queue.push({ kind: "create", id: Queue.newTempId(), body });
      render();
      notify("You're offline: the to-do will be added when you're back online.");
      return;
    }
    throw err;
  }
}

/** change applies patch at once (optimistic), then sends it with If-Match. */
async function change(t, patch) {
  if (t.id.startsWith(TEMP_PREFIX)) {
    state.queue.push({ kind: "update", id: t.id, patch, title: t.title });
    render();
    return;
  }
  const i = state.todos.findIndex((x) => x.id === t.id);
  const before = state.todos[i];
  const optimistic = { ...before, ...patch };
  for (const [k, v] of Object.entries(patch)) if (v === null) delete optimistic[k];
  state.todos[i] = optimistic;
  render();
  try {
    if (!navigator.onLine) throw new TypeError("Failed to fetch");
    const saved = await state.api.update(t.id, patch, before.version);
    replaceTodo(saved);
    clearMessages();
  } catch (err) {
    if (offline(err)) {
      state.queue.push({ kind: "update", id: t.id, patch, ifMatch: before.version, title: t.title });
      render();
      notify("You're offline: the change will be saved when you're back online.");
      return;
    }
    state.todos[i] = before;
    render();
    await handleApiError(err, "todo", t.id);
  }
}

async function remove(t) {
  if (t.id.startsWith(TEMP_PREFIX)) {
    state.queue.push({ kind: "delete", id: t.id, title: t.title });
    render();
    return;
  }
  const i = state.todos.findIndex((x) => x.id === t.id);
  const before = state.todos[i];
  state.todos.splice(i, 1);
  render();
  try {
    if (!navigator.onLine) throw new TypeError("Failed to fetch");
    await state.api.remove(t.id, before.version);
    notify(`Deleted “${t.title}”.`);
  } catch (err) {
    if (offline(err)) {
      state.queue.push({ kind: "delete", id: t.id, ifMatch: before.version, title: t.title });
      render();
      return;
    }
    if (err.status !== 404) {
      state.todos.splice(i, 0, before);
      render();
    }
    await handleApiError(err, "todo", t.id);
  }
}

function replaceTodo(saved) {
  const i = state.todos.findIndex((x) => x.id === saved.id);
  if (i >= 0) state.todos[i] = saved;
  render();
}

/** handleApiError shows err; a 412 fetches the current version first, a 404 drops the item. */
async function handleApiError(err, action, id) {
  if (err && err.status === 412 && id) {
    try {
      replaceTodo(await state.api.get(id));
    } catch (e) {
      console.warn("reload after 412", e);
    }
  } else if (err && err.status === 404 && id) {
    state.todos = state.todos.filter((x) => x.id !== id);
    render();
  } else if (err && (err.status === 401 || err.code === "NotAuthorizedException")) {
    state.auth.forget();
    return signedOut(messageFor(err, action));
  }
  showError(err, action);
}

/** sync replays the offline queue, then reloads the list. A replay the network cuts
 * short (the first requests after "online" often fail on a phone) is tried again
 * after 1, 2, 4 ... 30 s while the device says it is online. */
async function sync() {
  if (!state.queue || state.queue.size === 0 || state.syncing) return;
  state.syncing = true;
  try {
    const { applied, conflicts, remaining } = await state.queue.replay(state.api);
    clearTimeout(state.syncTimer);
    if (remaining > 0 && !conflicts.length && navigator.onLine) {
      const wait = Math.min(30000, 1000 * 2 ** (state.syncRetries || 0));
      state.syncRetries = (state.syncRetries || 0) + 1;
      state.syncTimer = setTimeout(sync, wait);
    } else {
      state.syncRetries = 0;
    }
    if (conflicts.length) {
      const lines = conflicts.map((c) => `“${c.op.body ? c.op.body.title : c.op.title}” was not synced: ${c.reason}.`);
      showError(lines.join(" ") + " The list shows what is saved now.");
    } else if (applied.length && remaining === 0) {
      notify(`Back online: ${applied.length} ${applied.length === 1 ? "change" : "changes"} synced.`);
    }
  } finally {
    state.syncing = false;
  }
  await loadTodos();
}

// ---- edit dialog -------------------------------------------------------------------

function localInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function openEdit(t) {
  state.editing = t;
  $("edit-title").value = t.title;
  $("edit-notes").value = t.notes || "";
  $("edit-due").value = localInput(t.dueAt);
  $("edit").showModal();
  $("edit-title").focus();
}

async function saveEdit() {
  const t = state.editing;
  const title = $("edit-title").value.trim();
  if (!title) throw new AppError("invalid", "Give the to-do a title.");
  const patch = {};
  if (title !== t.title) patch.title = title;
  const notes = $("edit-notes").value;
  if (notes !== (t.notes || "")) patch.notes = notes;
  const due = $("edit-due").value;
  const dueIso = due ? new Date(due).toISOString() : null;
  if (dueIso !== (t.dueAt ? new Date(t.dueAt).toISOString() : null)) patch.dueAt = dueIso;
  $("edit").close();
  if (Object.keys(patch).length) await change(t, patch);
}

// ---- files -------------------------------------------------------------------------

async function folder() {
  if (state.folder) return state.folder;
  const [{ Folder }, prefix] = await Promise.all([import("./files.js"), state.api.folder()]);
  state.folder = new Folder(state.config, await state.auth.token(), prefix);
  return state.folder;
}

async function openFiles() {
  try {
    const f = await folder();
    renderFiles(await f.list());
  } catch (err) {
    showError(err, "files");
  }
}

function renderFiles(files) {
  $("file-list").replaceChildren(
    ...files.map((f) => {
      const li = document.createElement("li");
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = f.name;
      const meta = document.createElement("span");
      meta.className = "hint";
      meta.textContent = formatBytes(f.size);
      const get = document.createElement("button");
      get.type = "button";
      get.textContent = "Download";
      get.setAttribute("aria-label", "Download " + f.name);
      get.addEventListener("click", () => download(f.name).catch((err) => showError(err, "files")));
      const del = document.createElement("button");
      del.type = "button";
      del.className = "danger";
      del.textContent = "Delete";
      del.setAttribute("aria-label", "Delete " + f.name);
      del.addEventListener("click", () => removeFile(f.name).catch((err) => showError(err, "files")));
      li.append(name, meta, get, del);
      return li;
    }),
  );
  $("no-files").hidden = files.length > 0;
}

async function upload(file, replace) {
  const { checkName, checkSize } = await import("./files.js");
  checkSize(file, state.config.maxUploadBytes);
  const f = await folder();
  const name = checkName(file.name, f.prefix);
  if (!replace && (await f.exists(name))) {
    state.replaceFile = file;
    $("replace").hidden = false;
    showError(`“${name}” is already in your folder. Choose “Replace it” to upload it again, or rename the file.`);
    return;
  }
  $("replace").hidden = true;
  state.replaceFile = null;
  const bar = $("upload-progress");
  bar.value = 0;
  bar.hidden = false;
  $("progress-label").hidden = false;
  $("cancel-upload").hidden = false;
  notify(`Uploading “${name}”…`);
  try {
    await f.upload(file, name, (loaded, total) => {
      bar.value = total ? Math.round((loaded / total) * 100) : 0;
      bar.setAttribute("aria-valuetext", `${formatBytes(loaded)} of ${formatBytes(total)}`);
    });
    bar.value = 100;
    notify(`Uploaded “${name}” (${formatBytes(file.size)}).`);
    $("upload-file").value = "";
  } finally {
    $("cancel-upload").hidden = true;
  }
  renderFiles(await f.list());
}

async function download(name) {
  const f = await folder();
  const blob = await f.download(name);
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  notify(`Downloaded “${name}”.`);
}

async function removeFile(name) {
  const f = await folder();
  await f.remove(name);
  notify(`Deleted “${name}”.`);
  renderFiles(await f.list());
}

// ---- account -----------------------------------------------------------------------

async function forgetDevice() {
  if (state.queue) state.queue.save([]);
  if (window.caches) await caches.delete(API_CACHE);
}

async function deleteAccount() {
  await state.api.deleteMe();
  await state.auth.deleteUser();
  await forgetDevice();
  signedOut("Your account and everything in it were deleted.");
}

// ---- wiring ------------------------------------------------------------------------

function onSubmit(id, action, fn) {
  const form = $(id);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearMessages();
    try {
      await busy(form, () => fn(form));
    } catch (err) {
      showError(err, action);
    }
  });
}

function wire() {
  for (const b of document.querySelectorAll("[data-go]")) {
    b.addEventListener("click", () => {
      clearMessages();
      show(b.dataset.go);
    });
  }
  for (const b of $("tabs").querySelectorAll("button")) {
    b.addEventListener("click", () => {
      clearMessages();
      show(b.dataset.view);
    });
  }
  onSubmit("signin-form", "signIn", async (form) => {
    const email = form.email.value.trim();
    const password = form.password.value;
    if (!email || !password) throw new AppError("invalid", "Enter your email and password.");
    try {
      await state.auth.signIn(email, password);
    } catch (err) {
      if (err.code === "UserNotConfirmedException") {
        state.pendingEmail = email;
        state.pendingPassword = password;
        $("confirm-to").textContent = `We emailed a code to ${email}.`;
        show("confirm");
      }
      throw err;
    }
    form.password.value = "";
    await signedIn();
  });
  onSubmit("signup-form", "signUp", async (form) => {
    const email = form.email.value.trim();
    const password = form.password.value;
    if (!email || !password) throw new AppError("invalid", "Enter an email and a password.");
    await state.auth.signUp(email, password);
    state.pendingEmail = email;
    state.pendingPassword = password;
    form.password.value = "";
    $("confirm-to").textContent = `We emailed a code to ${email}.`;
    show("confirm");
  });
  onSubmit("confirm-form", "confirm", async (form) => {
    const code = form.code.value.trim();
    if (!code) throw new AppError("invalid", "Enter the code from the email.");
    await state.auth.confirm(state.pendingEmail, code);
    form.code.value = "";
    if (state.pendingPassword) {
      await state.auth.signIn(state.pendingEmail, state.pendingPassword);
      state.pendingPassword = "";
      await signedIn();
      notify("Your email is confirmed. Welcome!");
    } else {
      show("signin");
      notify("Your email is confirmed. Sign in.");
    }
  });
  $("resend").addEventListener("click", async () => {
    try {
      await state.auth.resendCode(state.pendingEmail);
      notify("We sent a new code.");
    } catch (err) {
      showError(err, "confirm");
    }
  });
  onSubmit("forgot-form", "reset", async (form) => {
    const email = form.email.value.trim();
    if (!email) throw new AppError("invalid", "Enter your email.");
    await state.auth.forgotPassword(email);
    state.pendingEmail = email;
    $("reset-form").hidden = false;
    notify(`If ${email} has an account, we emailed it a code.`);
    $("reset-code").focus();
  });
  onSubmit("reset-form", "reset", async (form) => {
    const code = form.code.value.trim();
    const password = form.password.value;
    if (!code || !password) throw new AppError("invalid", "Enter the code and a new password.");
    await state.auth.confirmPassword(state.pendingEmail, code, password);
    form.reset();
    $("reset-form").hidden = true;
    $("signin-email").value = state.pendingEmail;
    show("signin");
    notify("Your password is changed. Sign in with the new one.");
  });
  onSubmit("add-form", "todo", async (form) => {
    const title = form.title.value.trim();
    if (!title) throw new AppError("invalid", "Type what there is to do first.");
    await add(title);
    form.title.value = "";
    form.title.focus();
  });
  $("more").addEventListener("click", () => loadTodos(true));
  onSubmit("edit-form", "todo", saveEdit);
  $("edit-cancel").addEventListener("click", () => $("edit").close());
  onSubmit("upload-form", "files", async (form) => {
    const file = form.file.files[0];
    if (!file) throw new AppError("invalid", "Choose a file first.");
    await upload(file, false);
  });
  $("replace").addEventListener("click", async () => {
    clearMessages();
    try {
      if (state.replaceFile) await upload(state.replaceFile, true);
    } catch (err) {
      showError(err, "files");
    }
  });
  $("cancel-upload").addEventListener("click", () => state.folder && state.folder.cancel());
  $("signout").addEventListener("click", async () => {
    try {
      await state.auth.signOutEverywhere();
    } catch (err) {
      console.warn("global sign-out", err);
    }
    await forgetDevice();
    signedOut("You're signed out on all your devices.");
  });
  onSubmit("password-form", "changePassword", async (form) => {
    if (!form.old.value || !form.new.value) throw new AppError("invalid", "Enter your current and your new password.");
    await state.auth.changePassword(form.old.value, form.new.value);
    form.reset();
    notify("Your password is changed.");
  });
  onSubmit("delete-form", "deleteAccount", async (form) => {
    if (!form.sure.checked) throw new AppError("invalid", "Tick the box first: deleting your account cannot be undone.");
    await deleteAccount();
  });
}

start();
