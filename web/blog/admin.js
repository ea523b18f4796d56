// MyBlog's admin page: sign in against the Cognito user pool straight from the
// browser (InitiateAuth, USER_PASSWORD_AUTH, over Cognito's JSON API), then write a
// post (POST /v1/posts) and upload a photo (POST /v1/photos, PUT the file to the
// presigned URL, poll GET /v1/photos/{id} until the thumbnail is ready).
// Where Cognito is comes from config.json, which `sa site deploy` writes from the
// stack. The id token lives in sessionStorage: it ends with the tab.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const KEY = "myblog.idToken";
  const say = (id, msg, ok) => { const s = $(id); s.textContent = msg; s.className = "status " + (ok ? "ok" : "err"); };
  const busy = (form, on) => form.querySelectorAll("button,input,textarea").forEach((e) => { e.disabled = on; });
  const config = fetch("/config.json", { cache: "no-cache" }).then((r) => {
    if (!r.ok) throw new Error("config.json: HTTP " + r.status);
    return r.json();
  });

  // claims decodes a JWT's payload (display only; the API verifies the token).
  const claims = (jwt) => {
    try {
      const b64 = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))));
    } catch (e) { return null; }
  };
  const token = () => {
    const t = sessionStorage.getItem(KEY), c = t && claims(t);
    if (!c || c.exp * 1000 < Date.now() + 30000) { sessionStorage.removeItem(KEY); return null; }
    return t;
  };
  const show = () => {
    const t = token();
    $("signin").hidden = !!t;
    $("signed-in").hidden = !t;
    if (t) $("who").textContent = claims(t).email || claims(t)["cognito:username"] || "admin";
  };

  // api calls blog-api with the id token and returns [status, json]; a 401 signs out.
  const api = (method, path, body) => fetch(path, {
    method, cache: "no-store",
    headers: Object.assign({ Accept: "application/json", Authorization: "Bearer " + token() }, body ? { "Content-Type": "application/json" } : {}),
    body: body ? JSON.stringify(body) : undefined,
  }).then((r) => r.json().catch(() => ({})).then((j) => {
    if (r.status === 401) { sessionStorage.removeItem(KEY); show(); }
    return [r.status, j];
  }));
  const errText = (status, j) => status === 403 ? "Your account is not in the admins group."
    : (j.error && j.error.message) || "The request failed (HTTP " + status + ").";

  $("signin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const form = ev.target;
    busy(form, true);
    say("signin-status", "Signing in…", true);
    config.then((cfg) => fetch(cfg.cognitoEndpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth" },
      body: JSON.stringify({ AuthFlow: "USER_PASSWORD_AUTH", ClientId: cfg.clientId, AuthParameters: { USERNAME: $("username").value, PASSWORD: $("password").value } }),
    })).then((r) => r.json().then((j) => {
      if (!r.ok) throw new Error(j.message || j.__type || "HTTP " + r.status);
      if (j.ChallengeName) throw new Error("Cognito asks for " + j.ChallengeName + "; finish it with the todo CLI or the console first.");
      sessionStorage.setItem(KEY, j.AuthenticationResult.IdToken);
      $("password").value = "";
      say("signin-status", "", true);
      show();
      $("title").focus();
    })).catch((e) => say("signin-status", "Sign-in failed: " + e.message, false))
      .finally(() => busy(form, false));
  });

  $("signout").addEventListener("click", () => { sessionStorage.removeItem(KEY); show(); $("username").focus(); });

  $("post-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const body = { title: $("title").value, body: $("body").value,
      tags: $("tags").value.split(",").map((s) => s.trim()).filter(Boolean) };
    if ($("slug").value) body.slug = $("slug").value;
    busy(form, true);
    api("POST", "/v1/posts", body).then(([status, j]) => {
      if (status !== 201) throw new Error(errText(status, j));
      const s = $("post-status");
      s.textContent = "Published: ";
      s.className = "status ok";
      s.append(Object.assign(document.createElement("a"), { href: "/post.html?slug=" + encodeURIComponent(j.slug), textContent: j.title }));
      form.reset();
    }).catch((e) => say("post-status", e.message, false)).finally(() => busy(form, false));
  });

  const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
  $("photo-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target, file = $("photo").files[0];
    if (!file) return;
    busy(form, true);
    $("photo-result").textContent = "";
    try {
      say("photo-status", "Registering the photo…", true);
      const [status, p] = await api("POST", "/v1/photos", { contentType: file.type, filename: file.name });
      if (status !== 201) throw new Error(errText(status, p));
      say("photo-status", "Uploading " + file.name + "…", true);
      const put = await fetch(p.uploadUrl, { method: "PUT", headers: { "Content-Type": file.type }, body: file });
      if (!put.ok) throw new Error("The upload failed (HTTP " + put.status + ").");
      say("photo-status", "Uploaded; making the thumbnail…", true);
      for (let i = 0; i < 60; i++) {
        await sleep(1000);
        const [st, ph] = await api("GET", "/v1/photos/" + encodeURIComponent(p.id));
        if (st !== 200) throw new Error(errText(st, ph));
        if (ph.status === "failed") throw new Error("The thumbnail could not be made: " + (ph.reason || "unknown reason"));
        if (ph.status === "ready") {
          say("photo-status", "Ready.", true);
          const a = Object.assign(document.createElement("a"), { href: ph.originalUrl });
          a.append(Object.assign(document.createElement("img"), { src: ph.thumbnailUrl, alt: "Thumbnail of " + file.name, width: 320, height: 240 }));
          $("photo-result").append(a);
          form.reset();
          return;
        }
      }
      throw new Error("No thumbnail after a minute; the gallery will show it once it is made.");
    } catch (e) {
      say("photo-status", e.message, false);
    } finally {
      busy(form, false);
    }
  });

  show();
})();
