// The offline queue keeps writes in order, folds changes to to-dos created offline
// into their create, stops at the first write that still cannot go through, and
// reports every write it could not apply instead of dropping it.

import assert from "node:assert/strict";
import test from "node:test";

import { ApiError, NetworkError } from "../src/messages.js";
import { Queue } from "../src/queue.js";

class MemoryStorage {
  constructor() {
    this.m = new Map();
  }
  getItem(k) {
    return this.m.has(k) ? this.m.get(k) : null;
  }
  setItem(k, v) {
    this.m.set(k, String(v));
  }
  removeItem(k) {
    this.m.delete(k);
  }
}

/** fakeApi records calls and answers from a script of results or errors. */
function fakeApi(script) {
  const calls = [];
  let n = 0;
  const next = (call) => {
    calls.push(call);
    const r = script[n++];
    if (r instanceof Error) return Promise.reject(r);
    return Promise.resolve(typeof r === "function" ? r(call) : r);
  };
  return {
    calls,
    create: (body) => next(["create", body]),
    update: (id, patch, ifMatch) => next(["update", id, patch, ifMatch]),
    remove: (id, ifMatch) => next(["remove", id, ifMatch]),
  };
}

test("writes replay in order, and offline creates get their server ids", async () => {
  const q = new Queue(new MemoryStorage(), "q");
  const temp = Queue.newTempId();
  q.push({ kind: "create", id: temp, body: { title: "Offline one" } });
  q.push({ kind: "update", id: "01SERVER", patch: { done: true }, ifMatch: 2, title: "Existing" });
  q.push({ kind: "delete", id: "01OTHER", ifMatch: 1, title: "Old" });
  const api = fakeApi([{ id: "01NEW", title: "Offline one", version: 1 }, { id: "01SERVER", version: 3 }, null]);
  const r = await q.replay(api);
  assert.deepEqual(api.calls, [
    ["create", { title: "Offline one" }],
    ["update", "01SERVER", { done: true }, 2],
    ["remove", "01OTHER", 1],
  ]);
  assert.equal(r.applied.length, 3);
  assert.equal(r.conflicts.length, 0);
  assert.equal(r.remaining, 0);
  assert.equal(q.size, 0);
});

test("changes to a to-do made offline fold into its create; deleting it drops it", () => {
  const q = new Queue(new MemoryStorage(), "q");
  const a = Queue.newTempId();
  const b = Queue.newTempId();
  q.push({ kind: "create", id: a, body: { title: "A" } });
  q.push({ kind: "create", id: b, body: { title: "B" } });
  q.push({ kind: "update", id: a, patch: { title: "A2", done: true } });
  q.push({ kind: "delete", id: b });
  const ops = q.list();
  assert.equal(ops.length, 1);
  assert.deepEqual(ops[0].body, { title: "A2", done: true });
});

test("still offline: the write and the rest stay queued, in order", async () => {
  const q = new Queue(new MemoryStorage(), "q");
  q.push({ kind: "create", id: Queue.newTempId(), body: { title: "one" } });
  q.push({ kind: "create", id: Queue.newTempId(), body: { title: "two" } });
  const api = fakeApi([{ id: "01A" }, new NetworkError(new TypeError("Failed to fetch"))]);
  const r = await q.replay(api);
  assert.equal(r.applied.length, 1);
  assert.equal(r.remaining, 1);
  assert.equal(q.list()[0].body.title, "two");
  for (const retryable of [new ApiError(503, "dependency_unavailable", "x"), new ApiError(401, "unauthenticated", "x"), new ApiError(429, "throttled", "x")]) {
    const r2 = await q.replay(fakeApi([retryable]));
    assert.equal(r2.remaining, 1, `kept after ${retryable.status}`);
  }
});

test("conflicts are reported, never dropped in silence", async () => {
  const q = new Queue(new MemoryStorage(), "q");
  q.push({ kind: "update", id: "01X", patch: { title: "mine" }, ifMatch: 1, title: "theirs" });
  q.push({ kind: "update", id: "01GONE", patch: { done: true }, ifMatch: 1, title: "gone" });
  q.push({ kind: "delete", id: "01ALREADY", ifMatch: 1, title: "already" });
  q.push({ kind: "create", id: Queue.newTempId(), body: { title: "x".repeat(201) } });
  const api = fakeApi([
    new ApiError(412, "precondition_failed", "at version 2"),
    new ApiError(404, "not_found", "no such to-do"),
    new ApiError(404, "not_found", "no such to-do"),
    new ApiError(400, "invalid_request", "title: must be at most 200 characters", "title"),
  ]);
  const r = await q.replay(api);
  assert.deepEqual(
    r.conflicts.map((c) => c.reason),
    ["changed on another device first", "deleted on another device", "not accepted: title: must be at most 200 characters"],
  );
  assert.equal(r.applied.length, 1, "deleting what is already gone is what the user wanted");
  assert.equal(q.size, 0);
});

test("one user's queue is not another's", () => {
  const s = new MemoryStorage();
  new Queue(s, "mytodolist.queue.alice").push({ kind: "create", id: Queue.newTempId(), body: { title: "a" } });
  assert.equal(new Queue(s, "mytodolist.queue.bob").size, 0);
});
