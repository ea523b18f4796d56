// The to-do API client, as the contract describes it: JSON, a Bearer id token, ETags
// and If-Match for changes, the error envelope decoded into ApiError. A 401 renews the
// session once (the refresh token) and tries again once.

import { ApiError, NetworkError } from "./messages.js";

export class Api {
  /**
   * base is the API's origin ("" for the page's own); auth has token() (a valid id
   * token, refreshed when due) and renew() (a new one now).
   */
  constructor(base, auth, fetchFn = (...a) => globalThis.fetch(...a)) {
    this.base = (base || "").replace(/\/+$/, "");
    this.auth = auth;
    this.fetch = fetchFn;
  }

  async call(method, path, { body, ifMatch, query } = {}) {
    const url = new URL(this.base + path, globalThis.location ? globalThis.location.href : "http://localhost/");
    for (const [k, v] of Object.entries(query || {})) {
      if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, String(v));
    }
    const send = async (token) => {
      const headers = { Authorization: "Bearer " + token, Accept: "application/json" };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (ifMatch) headers["If-Match"] = `"${ifMatch}"`;
      try {
        return await this.fetch(url.toString(), { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
      } catch (err) {
        throw new NetworkError(err);
      }
    };
    let resp = await send(await this.auth.token());
    if (resp.status === 401) resp = await send(await this.auth.renew());
    if (resp.status === 204) return null;
    let data = null;
    const text = await resp.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!resp.ok) {
      const e = (data && data.error) || {};
      throw new ApiError(resp.status, e.code, e.message, e.field, e.requestId || resp.headers.get("X-Request-Id"));
    }
    return data;
  }

  list(nextToken, limit = 20) {
    return this.call("GET", "/v1/todos", { query: { limit, nextToken } });
  }

  create(body) {
    return this.call("POST", "/v1/todos", { body });
  }

  get(id) {
    return this.call("GET", "/v1/todos/" + encodeURIComponent(id));
  }

  update(id, patch, ifMatch) {
    return this.call("PATCH", "/v1/todos/" + encodeURIComponent(id), { body: patch, ifMatch });
  }

  remove(id, ifMatch) {
    return this.call("DELETE", "/v1/todos/" + encodeURIComponent(id), { ifMatch });
  }

  /** folder returns the caller's folder as the API states it: "users/<sub>/". */
  async folder() {
    const r = await this.call("GET", "/v1/files", { query: { limit: 1 } });
    return r.prefix;
  }

  /**
   * deleteMe deletes the caller's data (DELETE /v1/me). A large account takes several
   * calls: the API answers 503 (Retry-After: 1) while more is left, and this calls
   * again a second later (at most 30 calls); pause is for tests.
   */
  async deleteMe(pause = (ms) => new Promise((r) => setTimeout(r, ms))) {
    for (let call = 1; ; call++) {
      try {
        return await this.call("DELETE", "/v1/me");
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 503 || call === 30) throw err;
        await pause(1000);
      }
    }
  }
}
