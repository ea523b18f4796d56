// Every kind of bad input and bad luck gets a sentence a person can act on, and no
// error ever shows raw JSON, a status code or an SDK class name.

import assert from "node:assert/strict";
import test from "node:test";

import { ApiError, AppError, NetworkError, formatBytes, isNetworkError, messageFor } from "../src/messages.js";

const cognito = (code, message = "") => Object.assign(new Error(message), { code, name: code });

test("each failure has its own human message", () => {
  const cases = [
    ["wrong password", cognito("NotAuthorizedException", "Incorrect username or password."), "signIn", "Wrong email or password."],
    ["unknown user", cognito("UserNotFoundException", "User does not exist."), "signIn", "Wrong email or password."],
    ["unconfirmed account", cognito("UserNotConfirmedException"), "signIn", "Your email isn't confirmed yet. Enter the code we emailed you."],
    ["wrong code", cognito("CodeMismatchException"), "confirm", "That code isn't right. Check the email we sent and try again."],
    ["expired code", cognito("ExpiredCodeException"), "reset", "That code is wrong or has expired. Ask for a new one."],
    ["weak password", cognito("InvalidPasswordException", "Password did not conform with policy: Password not long enough"), "signUp", "Choose a stronger password: at least 8 characters, with upper- and lower-case letters, a digit and a symbol."],
    ["taken email", cognito("UsernameExistsException"), "signUp", "An account with this email already exists. Sign in, or reset your password."],
    ["too many tries", cognito("LimitExceededException"), "reset", "Too many attempts. Wait a few minutes and try again."],
    ["network down (fetch)", new TypeError("Failed to fetch"), "todo", "You're offline, or MyTodoList can't be reached. Check your connection and try again."],
    ["network down (Cognito library)", Object.assign(new Error("Network error"), { code: "NetworkError" }), "signIn", "You're offline, or MyTodoList can't be reached. Check your connection and try again."],
    ["token expired mid-session", cognito("NotAuthorizedException", "Refresh Token has expired"), "session", "Your session has ended. Please sign in again."],
    ["API refused the token", new ApiError(401, "unauthenticated", "token expired"), "todo", "Your session has ended. Please sign in again."],
    ["changed elsewhere", new ApiError(412, "precondition_failed", "the to-do is at version 3, not 2"), "todo", "Another device changed this to-do first. The latest version is shown: make your change again."],
    ["deleted elsewhere", new ApiError(404, "not_found", "no such to-do"), "todo", "This to-do no longer exists: it was deleted on another device."],
    ["field error", new ApiError(400, "invalid_request", "title: must be at most 200 characters (got 201)", "title"), "todo", "The title must be at most 200 characters (got 201)."],
    ["server down", new ApiError(503, "dependency_unavailable", "DynamoDB unreachable"), "todo", "MyTodoList is having trouble right now. Try again in a moment."],
    ["throttled", new ApiError(429, "throttled", "too many requests"), "todo", "You're going a bit fast. Wait a moment and try again."],
    ["wrong current password", cognito("NotAuthorizedException", "Incorrect username or password."), "changePassword", "Your current password is not right."],
    ["file gone", Object.assign(new Error("NoSuchKey"), { name: "NoSuchKey" }), "files", "That file is no longer in your folder; it was deleted elsewhere."],
    ["file too large", new AppError("file_too_large", "“a.bin” is 2 GB: the largest file you can upload is 1 GB."), "files", "“a.bin” is 2 GB: the largest file you can upload is 1 GB."],
    ["anything else", new Error('{"raw":"json"} at foo.js:1:2'), "todo", "Something went wrong. Please try again."],
  ];
  for (const [name, err, action, want] of cases) {
    assert.equal(messageFor(err, action), want, name);
  }
});

test("no message leaks internals", () => {
  const leaks = /[{}]|Exception|\bat \w+\.js|HTTP \d|undefined|null/;
  const errs = [
    new ApiError(500, "internal", "panic: runtime error"),
    new ApiError(400, "invalid_request", '{"x":1}'),
    new ApiError(418, "teapot", "I'm a teapot"),
    cognito("InternalErrorException", "stack trace here"),
    cognito("InvalidParameterException", "1 validation error detected"),
    new Error("SyntaxError: Unexpected token < in JSON"),
    null,
  ];
  for (const e of errs) {
    const m = messageFor(e, "todo");
    assert.doesNotMatch(m, leaks, `message for ${e && e.message}: ${m}`);
  }
});

test("network errors are told apart from refusals", () => {
  assert.equal(isNetworkError(new NetworkError(new TypeError("x"))), true);
  assert.equal(isNetworkError(new TypeError("NetworkError when attempting to fetch resource.")), true);
  assert.equal(isNetworkError(new ApiError(503, "dependency_unavailable", "down")), false);
  assert.equal(isNetworkError(cognito("NotAuthorizedException")), false);
});

test("sizes read as people say them", () => {
  assert.equal(formatBytes(1), "1 byte");
  assert.equal(formatBytes(999), "999 bytes");
  assert.equal(formatBytes(5_767_168), "5.8 MB");
  assert.equal(formatBytes(1_000_000_000), "1 GB");
  assert.equal(formatBytes(104_857_600), "105 MB");
});
