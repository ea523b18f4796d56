// The service worker (Workbox): the app shell is precached (the list of files and
// their revisions is written in by build.mjs), so the app opens offline; config.json
// and the to-do list answers are fetched from the network first and kept, so the last
// list is readable offline. Each user's answers are kept under their own key (the
// token's sub), never served to another user, and the app deletes them on sign-out.

import { clientsClaim } from "workbox-core";
import { cleanupOutdatedCaches, createHandlerBoundToURL, precacheAndRoute } from "workbox-precaching";
import { NavigationRoute, registerRoute } from "workbox-routing";
import { NetworkFirst } from "workbox-strategies";

self.skipWaiting();
clientsClaim();
cleanupOutdatedCaches();
precacheAndRoute(self.__WB_MANIFEST);
registerRoute(new NavigationRoute(createHandlerBoundToURL("index.html")));

registerRoute(({ url, request }) => request.method === "GET" && url.origin === self.location.origin && url.pathname.endsWith("/config.json"), new NetworkFirst({ cacheName: "mytodolist-config", networkTimeoutSeconds: 5 }));

/** subOf reads the sub of the request's bearer token (not verified: the API does). */
function subOf(request) {
  const auth = request.headers.get("Authorization") || "";
  try {
    const part = auth.replace(/^Bearer\s+/i, "").split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4))).sub || "";
  } catch {
    return "";
  }
}

const perUser = {
  // The cache key carries the user: another user's token never matches it. Vary is
  // ignored on lookup, since a refreshed token differs from the one that was cached.
  cacheKeyWillBeUsed: async ({ request }) => {
    const sub = subOf(request);
    const u = new URL(request.url);
    u.searchParams.set("__user", sub);
    return u.toString();
  },
  cacheWillUpdate: async ({ request, response }) => (subOf(request) && response && response.status === 200 ? response : null),
};

registerRoute(
  ({ url, request }) => request.method === "GET" && /\/v1\/todos$/.test(url.pathname),
  new NetworkFirst({ cacheName: "mytodolist-api", networkTimeoutSeconds: 5, plugins: [perUser], matchOptions: { ignoreVary: true } }),
);
