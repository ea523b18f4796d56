// The API client: the contract's headers, the envelope decoded into ApiError, a 401
// answered by one renewal of the token and one more try, and no answer at all told
// apart as a NetworkError.

import assert from "node:assert/strict";
import test from "node:test";

import { Api } from "../src/api.js";
import { ApiError, NetworkError } from "../src/messages.js";

function fakeFetch(answers) {
  const calls = [];
  const fn = async (url, init) => {
    calls.push({ url, ...init });
    const a = answers.shift();
    if (a instanceof Error) throw a;
    return new Response(a.body === undefined ? null : JSON.stringify(a.body), { status: a.status, headers: { "X-Request-Id": "req-1" } });
  };
  fn.calls = calls;
  return fn;
}

const auth = () => {
  const a = { renewed: 0, token: async () => "old", renew: async () => (a.renewed++, "new") };
  return a;
};

test("changes carry the version in If-Match and JSON in the body", async () => {
  const f = fakeFetch([{ status: 200, body: { id: "01A", version: 3 } }]);
  const api = new Api("https://api.example.com/", auth(), f);
  const t = await api.update("01A", { done: true }, 2);
  assert.equal(t.version, 3);
  const c = f.calls[0];
  assert.equal(c.url, "https://api.example.com/v1/todos/01A");
  assert.equal(c.method, "PATCH");
  assert.equal(c.headers["If-Match"], '"2"');
  assert.equal(c.headers.Authorization, "Bearer old");
  assert.equal(c.body, '{"done":true}');
});

test("a 401 renews the token once and tries again", async () => {
  const a = auth();
  const f = fakeFetch([{ status: 401, body: { error: { code: "unauthenticated", message: "token expired" } } }, { status: 200, body: { items: [], nextToken: null } }]);
  const page = await new Api("", a, f).list();
  assert.deepEqual(page.items, []);
  assert.equal(a.renewed, 1);
  assert.equal(f.calls[1].headers.Authorization, "Bearer new");

  const b = auth();
  const g = fakeFetch([{ status: 401, body: {} }, { status: 401, body: { error: { code: "unauthenticated", message: "no" } } }]);
  await assert.rejects(new Api("", b, g).list(), (e) => e instanceof ApiError && e.status === 401);
  assert.equal(b.renewed, 1, "renewed once, not in a loop");
});

test("error envelopes become ApiError; no answer is a NetworkError", async () => {
  const f = fakeFetch([{ status: 412, body: { error: { code: "precondition_failed", message: "at version 3", requestId: "r-9" } } }, new TypeError("Failed to fetch")]);
  const api = new Api("", auth(), f);
  await assert.rejects(api.remove("01A", 2), (e) => e instanceof ApiError && e.status === 412 && e.code === "precondition_failed" && e.requestId === "r-9");
  await assert.rejects(api.list(), (e) => e instanceof NetworkError);
});

test("account deletion is DELETE /v1/me; 204 is no content", async () => {
  const f = fakeFetch([{ status: 204 }]);
  assert.equal(await new Api("", auth(), f).deleteMe(), null);
  assert.equal(f.calls[0].method, "DELETE");
  assert.match(f.calls[0].url, /\/v1\/me$/);
});

test("deleting the account calls again while the API answers 503 (more left), and stops at an error", async () => {
  const busy = { status: 503, body: { error: { code: "unavailable", message: "send DELETE /v1/me again to finish" } } };
  const f = fakeFetch([busy, busy, { status: 204 }]);
  const pauses = [];
  assert.equal(await new Api("", auth(), f).deleteMe(async (ms) => pauses.push(ms)), null);
  assert.equal(f.calls.length, 3);
  assert.ok(f.calls.every((c) => c.method === "DELETE" && c.url.endsWith("/v1/me")));
  assert.deepEqual(pauses, [1000, 1000]);

  const g = fakeFetch([busy, { status: 500, body: { error: { code: "internal", message: "boom" } } }]);
  await assert.rejects(new Api("", auth(), g).deleteMe(async () => {}), (e) => e instanceof ApiError && e.status === 500);
  assert.equal(g.calls.length, 2);
});
