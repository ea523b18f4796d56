// Human messages for everything that can go wrong, in one place. Nothing raw reaches
// the screen: no JSON, no stack, no SDK class names. The details go to the console for
// whoever debugs it.

/** An error the app raises itself (bad input caught before any call). */
export class AppError extends Error {
  constructor(kind, message, details = {}) {
    super(message);
    this.name = "AppError";
    this.kind = kind;
    Object.assign(this, details);
  }
}

/** An error answer of the to-do API (the contract's envelope). */
export class ApiError extends Error {
  constructor(status, code, message, field, requestId) {
    super(message || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = field;
    this.requestId = requestId;
  }
}

/** A request that never got an answer: offline, DNS, TLS, CORS. */
export class NetworkError extends Error {
  constructor(cause) {
    super("network error");
    this.name = "NetworkError";
    this.cause = cause;
  }
}

const OFFLINE = "You're offline, or MyTodoList can't be reached. Check your connection and try again.";
const TRY_AGAIN = "Something went wrong. Please try again.";
const SESSION_ENDED = "Your session has ended. Please sign in again.";

const FIELD_NAMES = { title: "The title", notes: "The notes", dueAt: "The due date", key: "The file name", limit: "The page size", nextToken: "The list position" };

/** isNetworkError tells a request that got no answer from one that was refused. */
export function isNetworkError(err) {
  if (!err) return false;
  if (err instanceof NetworkError) return true;
  if (err.code === "NetworkError" || err.name === "NetworkError") return true; // amazon-cognito-identity-js, AWS SDK
  if (err.name === "TypeError" && /fetch|network|load failed/i.test(err.message || "")) return true;
  return false;
}

/** Formats a byte count for people: 5.2 MB, 980 KB, 12 bytes. */
export function formatBytes(n) {
  if (!Number.isFinite(n) || n < 0) return "";
  if (n < 1000) return `${n} ${n === 1 ? "byte" : "bytes"}`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1000;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v >= 100 ? Math.round(v) : v.toFixed(1).replace(/\.0$/, "")} ${units[u]}`;
}

/**
 * messageFor turns any error into one sentence a person can act on. action names what
 * was being done ("signIn", "signUp", "confirm", "reset", "changePassword", "todo",
 * "files", "deleteAccount", "session") where the same error means different things.
 */
export function messageFor(err, action = "") {
  if (!err) return TRY_AGAIN;
  if (isNetworkError(err)) return OFFLINE;
  if (err instanceof AppError) return err.message;
  if (err instanceof ApiError) return apiMessage(err, action);
  const code = err.code || err.name || "";
  switch (code) {
    case "NotAuthorizedException":
      if (action === "signIn") return "Wrong email or password.";
      if (action === "changePassword") return "Your current password is not right.";
      if (/disabled/i.test(err.message || "")) return "This account is disabled.";
      return SESSION_ENDED;
    case "UserNotFoundException":
      if (action === "reset") return "There's no account with this email.";
      return action === "signIn" ? "Wrong email or password." : SESSION_ENDED;
    case "UserNotConfirmedException":
      return "Your email isn't confirmed yet. Enter the code we emailed you.";
    case "UsernameExistsException":
      return "An account with this email already exists. Sign in, or reset your password.";
    case "CodeMismatchException":
      return "That code isn't right. Check the email we sent and try again.";
    case "ExpiredCodeException":
      return "That code is wrong or has expired. Ask for a new one.";
    case "InvalidPasswordException":
      return "Choose a stronger password: at least 8 characters, with upper- and lower-case letters, a digit and a symbol.";
    case "InvalidParameterException":
      if (/email/i.test(err.message || "")) return "Enter a valid email address.";
      if (/password/i.test(err.message || "")) return "Choose a stronger password: at least 8 characters, with upper- and lower-case letters, a digit and a symbol.";
      return "Something you entered wasn't accepted. Check it and try again.";
    case "LimitExceededException":
    case "TooManyRequestsException":
    case "TooManyFailedAttemptsException":
      return "Too many attempts. Wait a few minutes and try again.";
    case "NoSuchKey":
    case "NotFound":
      return "That file is no longer in your folder; it was deleted elsewhere.";
    case "AccessDenied":
    case "Forbidden":
      return "You don't have access to that file.";
    case "EntityTooLarge":
      return "That file is too large to upload.";
    case "ExpiredToken":
    case "ExpiredTokenException":
    case "InvalidAccessKeyId":
      return "Your file access expired. Try again.";
    default:
      return TRY_AGAIN;
  }
}

function apiMessage(err, action) {
  switch (err.status) {
    case 400:
      if (err.field && FIELD_NAMES[err.field]) {
        const detail = (err.message || "").replace(/^[A-Za-z]+: /, "");
        return `${FIELD_NAMES[err.field]} ${detail.replace(/\.$/, "")}.`;
      }
      return "Something you entered wasn't accepted. Check it and try again.";
    case 401:
      return SESSION_ENDED;
    case 403:
      return "This account was deleted.";
    case 404:
      return action === "files" ? "That file is no longer in your folder." : "This to-do no longer exists: it was deleted on another device.";
    case 409:
    case 412:
      return "Another device changed this to-do first. The latest version is shown: make your change again.";
    case 413:
      return "That's too large to save.";
    case 429:
      return "You're going a bit fast. Wait a moment and try again.";
    default:
      if (err.status >= 500) return "MyTodoList is having trouble right now. Try again in a moment.";
      return TRY_AGAIN;
  }
}
