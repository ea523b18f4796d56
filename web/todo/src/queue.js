// The offline queue: writes made while offline, kept in order in local storage (per
// user) and replayed when the network returns. Replaying never loses a write in
// silence: each one is applied, or reported as a conflict with why.

import { ApiError, isNetworkError } from "./messages.js";

/** Temporary ids of to-dos created offline start with this. */
export const TEMP_PREFIX = "offline-";

export class Queue {
  /**
   * storage is a Storage (localStorage) or anything with getItem/setItem/removeItem;
   * key names this user's queue.
   */
  constructor(storage, key) {
    this.storage = storage;
    this.key = key;
  }

  list() {
    try {
      const v = JSON.parse(this.storage.getItem(this.key) || "[]");
      return Array.isArray(v) ? v : [];
    } catch {
      return [];
    }
  }

  save(ops) {
    if (ops.length === 0) this.storage.removeItem(this.key);
    else this.storage.setItem(this.key, JSON.stringify(ops));
  }

  get size() {
    return this.list().length;
  }

  /** newTempId makes the id of a to-do created offline. */
  static newTempId() {
    return TEMP_PREFIX + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 8);
  }

  /**
   * push adds one write: {kind: "create", id: tempId, body}, {kind: "update", id,
   * patch, ifMatch, title} or {kind: "delete", id, ifMatch, title}. A change to a
   * to-do that was itself created offline is folded into its create (a delete drops
   * it), so the server sees each offline to-do once.
   */
  push(op) {
    const ops = this.list();
    if (op.id && op.id.startsWith(TEMP_PREFIX) && op.kind !== "create") {
      const i = ops.findIndex((o) => o.kind === "create" && o.id === op.id);
      if (i >= 0) {
        if (op.kind === "delete") ops.splice(i, 1);
        else ops[i] = { ...ops[i], body: applyPatch(ops[i].body, op.patch) };
        this.save(ops);
        return;
      }
    }
    ops.push({ ...op, queuedAt: new Date().toISOString() });
    this.save(ops);
  }

  /**
   * replay sends the queued writes in order through api (create, update, remove). It
   * stops at the first write that gets no answer (still offline) or a retryable one
   * (401, 429, 5xx), leaving it and the rest queued, and returns what happened:
   * {applied: [{op, todo}], conflicts: [{op, reason, error}], remaining}.
   */
  async replay(api) {
    const applied = [];
    const conflicts = [];
    const ids = new Map(); // temp id -> server id
    let ops = this.list();
    while (ops.length > 0) {
      const op = ops[0];
      const id = ids.get(op.id) || op.id;
      try {
        let todo = null;
        if (op.kind === "create") {
          todo = await api.create(op.body);
          ids.set(op.id, todo.id);
        } else if (op.kind === "update") {
          todo = await api.update(id, op.patch, op.ifMatch);
        } else if (op.kind === "delete") {
          await api.remove(id, op.ifMatch);
        }
        applied.push({ op, todo });
      } catch (err) {
        if (isNetworkError(err) || !(err instanceof ApiError) || err.status === 401 || err.status === 429 || err.status >= 500) {
          break; // try again later, in the same order
        }
        if (op.kind === "delete" && err.status === 404) {
          applied.push({ op, todo: null }); // already gone: what the user wanted
        } else {
          conflicts.push({ op, reason: conflictReason(err), error: err });
        }
      }
      ops = ops.slice(1);
      this.save(ops);
    }
    return { applied, conflicts, remaining: ops.length };
  }
}

/** conflictReason says in words why a queued write could not be applied. */
export function conflictReason(err) {
  switch (err.status) {
    case 412:
      return "changed on another device first";
    case 404:
      return "deleted on another device";
    case 403:
      return "the account was deleted";
    default:
      return "not accepted: " + (err.message || "invalid");
  }
}

function applyPatch(body, patch) {
  const out = { ...body };
  for (const [k, v] of Object.entries(patch || {})) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}
