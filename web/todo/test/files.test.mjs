// Files are checked before any call: too large, empty, or a name the folder rules
// refuse, each with a sentence.

import assert from "node:assert/strict";
import test from "node:test";

import { checkName, checkSize } from "../src/files.js";

test("too large and empty files are refused before any upload", () => {
  assert.throws(() => checkSize({ name: "big.bin", size: 2_000_000_001 }, 1_000_000_000), { kind: "file_too_large", message: "“big.bin” is 2 GB: the largest file you can upload is 1 GB." });
  assert.throws(() => checkSize({ name: "e.txt", size: 0 }, 10), { kind: "empty_file" });
  assert.doesNotThrow(() => checkSize({ name: "ok.bin", size: 100 * 1000 * 1000 }, 1_000_000_000));
});

test("names are normalised and checked as the API checks keys", () => {
  assert.equal(checkName("cafe\u0301.txt", "users/s/"), "café.txt");
  for (const bad of ["", ".", "..", "a/b", "a\\b", "a\u0000b", "tab\tname", "line\u2028sep"]) {
    assert.throws(() => checkName(bad, "users/s/"), { kind: "bad_name" }, JSON.stringify(bad));
  }
  assert.throws(() => checkName("x".repeat(1020), "users/s/"), { kind: "bad_name" });
});
