// MyBlog's public pages: home (recent posts, subscribe), a post, the photo gallery.
// Same-origin relative URLs only: the edge serves the site at /, the API at /v1/ and
// media at /media/. Titles and every other API string go in with textContent; only a
// post's html, sanitised by blog-api (goldmark + bluemonday), is set as HTML.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const get = (path) => fetch(path, { headers: { Accept: "application/json" }, cache: "no-cache" }).then((r) => {
    if (!r.ok) throw Object.assign(new Error("HTTP " + r.status), { status: r.status });
    return r.json();
  });
  const el = (tag, text, attrs) => {
    const e = document.createElement(tag);
    if (text) e.textContent = text;
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    return e;
  };
  const date = (s) => new Date(s).toLocaleDateString(undefined, { dateStyle: "medium" });
  // The site's Content-Security-Policy requires Trusted Types for HTML sinks: the one
  // HTML this site inserts, a post's body, goes through this one named policy. It is
  // sanitised by blog-api (goldmark with raw HTML off, then bluemonday).
  const sanitised = window.trustedTypes ? window.trustedTypes.createPolicy("myblog", { createHTML: (s) => s }) : { createHTML: (s) => s };
  const done = (node) => node.setAttribute("aria-busy", "false");

  // pager loads a list page by page into list, with a "more" button.
  const pager = (path, list, render, empty) => {
    const more = $("more");
    let next = null;
    const load = () => {
      more.disabled = true;
      get(path + (next ? "&nextToken=" + encodeURIComponent(next) : "")).then((d) => {
        d.items.forEach((it) => { const li = render(it); if (li) list.append(li); });
        if (!list.children.length) list.append(el("li", empty));
        next = d.nextToken;
        more.hidden = !next;
      }).catch(() => list.append(el("li", "This list could not be loaded. Try again later.")))
        .finally(() => { more.disabled = false; done(list); });
    };
    more.addEventListener("click", load);
    load();
  };

  const page = document.body.dataset.page;
  if (page === "home") {
    pager("/v1/posts?limit=10", $("posts"), (p) => {
      const li = el("li");
      li.append(el("a", p.title, { href: "/post.html?slug=" + encodeURIComponent(p.slug) }), el("br"),
        el("time", date(p.publishedAt), { class: "meta", datetime: p.publishedAt }));
      return li;
    }, "No posts yet.");
    $("subscribe").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const status = $("subscribe-status"), email = $("email");
      const say = (msg, ok) => { status.textContent = msg; status.className = "status " + (ok ? "ok" : "err"); };
      if (!email.checkValidity()) { say("Please enter a valid email address.", false); email.focus(); return; }
      // 202 is the same answer for every address (new, pending or subscribed): the
      // confirmation email, if any, says the rest. 400 carries blog-api's reason (e.g. an
      // address email cannot be sent to); 429 how long this network must wait.
      fetch("/v1/subscribers", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ email: email.value }) })
        .then((r) => {
          if (r.status === 202) return say("Almost done: check your inbox for a confirmation email and open its link to start your subscription.", true);
          if (r.status === 429) {
            const mins = Math.max(1, Math.ceil((parseInt(r.headers.get("Retry-After"), 10) || 60) / 60));
            return say("Too many subscriptions from your network right now; please try again in " + mins + " minute" + (mins > 1 ? "s" : "") + ".", false);
          }
          return r.json().then((b) => say(r.status === 400 && b.error && b.error.message ? "This address " + b.error.message + "." : "Something went wrong; please try again.", false),
            () => say("Something went wrong; please try again.", false));
        })
        .catch(() => say("Something went wrong; please try again.", false));
    });
  } else if (page === "post") {
    const slug = new URLSearchParams(location.search).get("slug") || "";
    const art = document.querySelector("article");
    get("/v1/posts/" + encodeURIComponent(slug)).then((p) => {
      document.title = p.title + " · MyBlog";
      $("title").textContent = p.title;
      $("date").textContent = date(p.publishedAt);
      $("date").setAttribute("datetime", p.publishedAt);
      if (p.tags && p.tags.length) $("tags").textContent = "· " + p.tags.join(", ");
      $("body").innerHTML = sanitised.createHTML(p.html);
    }).catch((e) => {
      $("title").textContent = e.status === 404 ? "Post not found" : "This post could not be loaded";
    }).finally(() => done(art));
  } else if (page === "gallery") {
    pager("/v1/photos?limit=24", $("photos"), (ph) => {
      if (ph.status !== "ready" || !ph.thumbnailUrl) return null;
      // A WebP thumbnail, when the thumbnailer made a smaller one, else the JPEG.
      const li = el("li"), a = el("a", "", { href: ph.originalUrl }), pic = el("picture");
      if (ph.thumbnailWebpUrl) pic.append(el("source", "", { type: "image/webp", srcset: ph.thumbnailWebpUrl }));
      pic.append(el("img", "", { src: ph.thumbnailUrl, alt: "Photo from " + date(ph.createdAt) + " (opens full size)", loading: "lazy", decoding: "async", width: "320", height: "240" }));
      a.append(pic);
      li.append(a);
      return li;
    }, "No photos yet.");
  }
})();
