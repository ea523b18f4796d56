// Builds the app into dist/ (or the directory given as the first argument):
//
//   assets/  app-<hash>.js and its chunks (esbuild, ES modules, code-split, minified),
//            app-<hash>.css: content-hashed names, cacheable for ever;
//   index.html with those names written in; manifest.webmanifest; icons/;
//   sw.js    the service worker (Workbox, bundled) with the precache list: every file
//            above and its revision.
//
// config.json is not built: whoever serves the app writes it for its stack.

import { createHash } from "node:crypto";
import { mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";

import { iconPNG } from "./icons.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.join(here, "src");
const out = path.resolve(process.argv[2] || path.join(here, "dist"));

const hash = (b) => createHash("sha256").update(b).digest("hex").slice(0, 16);

await rm(out, { recursive: true, force: true });
await mkdir(path.join(out, "icons"), { recursive: true });

const app = await esbuild.build({
  entryPoints: { app: path.join(src, "app.js"), style: path.join(src, "style.css") },
  bundle: true,
  splitting: true,
  format: "esm",
  minify: true,
  sourcemap: false,
  target: ["es2020", "chrome100", "safari15", "firefox100"],
  outdir: path.join(out, "assets"),
  entryNames: "[name]-[hash]",
  chunkNames: "chunk-[hash]",
  assetNames: "[name]-[hash]",
  metafile: true,
  legalComments: "linked",
  define: { "process.env.NODE_ENV": '"production"', global: "globalThis" },
  // The package's browser field maps "./dist-es/index" without an extension, which
  // esbuild does not match against the module field's "./dist-es/index.js": name the
  // browser entry (the Cognito and web-identity providers only) directly.
  alias: { "@aws-sdk/credential-providers": "@aws-sdk/credential-providers/dist-es/index.browser.js" },
  logLevel: "warning",
});
const outputs = Object.entries(app.metafile.outputs);
const rel = (f) => path.relative(out, path.resolve(here, f)).split(path.sep).join("/");
const entry = (name) => rel(outputs.find(([, o]) => o.entryPoint && o.entryPoint.endsWith(name))[0]);

let html = await readFile(path.join(src, "index.html"), "utf8");
html = html.replace("{{app}}", entry("app.js")).replace("{{style}}", entry("style.css"));
await writeFile(path.join(out, "index.html"), html);
await writeFile(path.join(out, "manifest.webmanifest"), await readFile(path.join(src, "manifest.webmanifest")));
await writeFile(path.join(out, "icons", "icon-192.png"), iconPNG(192));
await writeFile(path.join(out, "icons", "icon-512.png"), iconPNG(512));
await writeFile(path.join(out, "icons", "maskable-512.png"), iconPNG(512, true));

// The precache list: every file but the service worker itself; hashed names need no
// revision.
const files = [];
async function walk(dir) {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await walk(p);
    else files.push(p);
  }
}
await walk(out);
const manifest = [];
for (const f of files.sort()) {
  const url = path.relative(out, f).split(path.sep).join("/");
  if (url.endsWith(".LEGAL.txt")) continue;
  manifest.push({ url, revision: url.startsWith("assets/") ? null : hash(await readFile(f)) });
}

await esbuild.build({
  entryPoints: [path.join(src, "sw.js")],
  bundle: true,
  format: "iife",
  minify: true,
  target: ["es2020"],
  outfile: path.join(out, "sw.js"),
  define: { "self.__WB_MANIFEST": JSON.stringify(manifest), "process.env.NODE_ENV": '"production"' },
  logLevel: "warning",
});

const sizes = await Promise.all(outputs.map(async ([f, o]) => `${rel(f)} ${o.bytes}`));
console.log(`built ${out}: ${manifest.length} precached files\n  ${sizes.join("\n  ")}`);
