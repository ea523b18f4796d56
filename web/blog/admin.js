// MyBlog's admin page: sign in against the Cognito user pool straight from the
// browser (InitiateAuth, USER_PASSWORD_AUTH, over Cognito's JSON API), then write a
// post (POST /v1/posts) and upload a photo (POST /v1/photos, PUT the file to the
// presigned URL, poll GET /v1/photos/{id} until the thumbnail is ready). A photo's type
// is read from its first bytes, not from the browser's guess (which is empty for HEIC
// and AVIF on many systems); the thumbnailer checks the bytes again.
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
  // sniff names an image's type from its first bytes, as the thumbnailer does, or "".
  const sniff = async (file) => {
    const b = new Uint8Array(await file.slice(0, 64).arrayBuffer());
    const ascii = (i, n) => String.fromCharCode(...b.subarray(i, i + n));
    if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "image/jpeg";
    if (ascii(0, 8) === "\x89PNG\r\n\x1a\n") return "image/png";
    if (ascii(0, 6) === "GIF87a" || ascii(0, 6) === "GIF89a") return "image/gif";
    if (ascii(0, 4) === "RIFF" && ascii(8, 4) === "WEBP") return "image/webp";
    if (ascii(4, 4) === "ftyp") {
      const size = Math.min(b.length, (b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]) >>> 0);
      const brands = [ascii(8, 4)];
      for (let i = 16; i + 4 <= size; i += 4) brands.push(ascii(i, 4));
      if (brands.some((x) => x === "avif" || x === "avis")) return "image/avif";
      if (brands.some((x) => ["heic", "heix", "heim", "heis", "hevc", "hevx"].includes(x))) return "image/heic";
      if (brands.some((x) => x === "mif1" || x === "msf1")) return "image/heif";
    }
    return "";
  };
  // thumbnail is a <picture> offering the WebP thumbnail, when there is one, before the JPEG.
  const thumbnail = (ph, alt, w, h) => {
    const pic = document.createElement("picture");
    if (ph.thumbnailWebpUrl) pic.append(Object.assign(document.createElement("source"), { type: "image/webp", srcset: ph.thumbnailWebpUrl }));
    pic.append(Object.assign(document.createElement("img"), { src: ph.thumbnailUrl, alt, width: w, height: h }));
    return pic;
  };
  $("photo-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target, file = $("photo").files[0];
    if (!file) return;
    busy(form, true);
    $("photo-result").textContent = "";
    try {
      const type = await sniff(file);
      if (!type) throw new Error(file.name + " is not a JPEG, PNG, GIF, WebP, HEIC or AVIF image.");
      say("photo-status", "Registering the photo…", true);
      const [status, p] = await api("POST", "/v1/photos", { contentType: type, filename: file.name });
      if (status !== 201) throw new Error(errText(status, p));
      say("photo-status", "Uploading " + file.name + "…", true);
      const put = await fetch(p.uploadUrl, { method: "PUT", headers: { "Content-Type": type }, body: file });
      if (!put.ok) throw new Error("The upload failed (HTTP " + put.status + ").");
      say("photo-status", "Uploaded; making the thumbnail…", true);
      for (let i = 0; i < 60; i++) {
        await sleep(1000);
        const [st, ph] = await api("GET", "/v1/photos/" + encodeURIComponent(p.id));
        if (st !== 200) throw new Error(errText(st, ph));
        if (ph.status === "rejected") throw new Error("The photo was refused: " + (ph.reason || "no reason given"));
        if (ph.status === "failed") throw new Error("The thumbnail could not be made: " + (ph.reason || "unknown reason"));
        if (ph.status === "ready") {
          say("photo-status", "Ready.", true);
          // The preview is the thumbnail: browsers other than Safari cannot show HEIC.
          const a = Object.assign(document.createElement("a"), { href: ph.originalUrl });
          a.append(thumbnail(ph, "Thumbnail of " + file.name, 320, 240));
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
