// The account side of the app, with amazon-cognito-identity-js: sign-up, the emailed
// code, SRP sign-in (USER_SRP_AUTH, the flow every Cognito mobile SDK uses), the
// session kept in local storage and refreshed with the refresh token across reloads,
// global sign-out, forgotten and changed passwords, and deleting the user.

import { AuthenticationDetails, CognitoUser, CognitoUserAttribute, CognitoUserPool } from "amazon-cognito-identity-js";

import { isNetworkError } from "./messages.js";

const call = (fn) => new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));

/** claimsOf reads a JWT's payload (not verified: the API verifies tokens). */
export function claimsOf(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(part + "=".repeat((4 - (part.length % 4)) % 4));
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return {};
  }
}

export class Auth {
  constructor(config, storage) {
    this.pool = new CognitoUserPool({
      UserPoolId: config.userPoolId,
      ClientId: config.clientId,
      endpoint: config.cognitoEndpoint || undefined,
      Storage: storage,
    });
    this.storage = storage;
    this.user = null;
    this.session = null;
  }

  cognitoUser(email) {
    return new CognitoUser({ Username: email, Pool: this.pool, Storage: this.storage });
  }

  /** restore returns the kept session (refreshed when its tokens expired), or null. */
  async restore() {
    const user = this.pool.getCurrentUser();
    if (!user) return null;
    try {
      this.session = await call((cb) => user.getSession(cb));
      this.user = user;
      return this.session;
    } catch (err) {
      if (isNetworkError(err)) {
        this.user = user; // offline: keep the session for when the network is back
      } else {
        user.signOut(); // the refresh token no longer works: forget it
      }
      throw err;
    }
  }

  signUp(email, password) {
    return call((cb) => this.pool.signUp(email, password, [new CognitoUserAttribute({ Name: "email", Value: email })], null, cb));
  }

  confirm(email, code) {
    return call((cb) => this.cognitoUser(email).confirmRegistration(code, true, cb));
  }

  resendCode(email) {
    return call((cb) => this.cognitoUser(email).resendConfirmationCode(cb));
  }

  signIn(email, password) {
    const user = this.cognitoUser(email);
    return new Promise((resolve, reject) => {
      user.authenticateUser(new AuthenticationDetails({ Username: email, Password: password }), {
        onSuccess: (session) => {
          this.user = user;
          this.session = session;
          resolve(session);
        },
        onFailure: reject,
        newPasswordRequired: () => reject(Object.assign(new Error("a new password is required"), { code: "PasswordResetRequiredException" })),
      });
    });
  }

  get signedIn() {
    return !!this.user && !!this.session;
  }

  get claims() {
    return this.session ? claimsOf(this.session.getIdToken().getJwtToken()) : {};
  }

  /** token returns a valid id token, refreshed with the refresh token when due. */
  async token() {
    if (!this.user) throw Object.assign(new Error("not signed in"), { code: "NotAuthorizedException" });
    this.session = await call((cb) => this.user.getSession(cb));
    return this.session.getIdToken().getJwtToken();
  }

  /** renew refreshes the session now, whatever its expiry says, and returns the id token. */
  async renew() {
    if (!this.user || !this.session) throw Object.assign(new Error("not signed in"), { code: "NotAuthorizedException" });
    this.session = await call((cb) => this.user.refreshSession(this.session.getRefreshToken(), cb));
    return this.session.getIdToken().getJwtToken();
  }

  /** signOutEverywhere ends every session of the user (GlobalSignOut), then this one. */
  async signOutEverywhere() {
    const user = this.user;
    try {
      if (user) await this.token();
      if (user) await new Promise((resolve, reject) => user.globalSignOut({ onSuccess: resolve, onFailure: reject }));
    } finally {
      this.forget();
    }
  }

  /** forget drops the session kept on this device. */
  forget() {
    if (this.user) this.user.signOut();
    const current = this.pool.getCurrentUser();
    if (current) current.signOut();
    this.user = null;
    this.session = null;
  }

  forgotPassword(email) {
    const user = this.cognitoUser(email);
    return new Promise((resolve, reject) => {
      user.forgotPassword({ onSuccess: resolve, onFailure: reject, inputVerificationCode: resolve });
    });
  }

  confirmPassword(email, code, password) {
    const user = this.cognitoUser(email);
    return new Promise((resolve, reject) => {
      user.confirmPassword(code, password, { onSuccess: resolve, onFailure: reject });
    });
  }

  async changePassword(previous, proposed) {
    await this.token();
    return call((cb) => this.user.changePassword(previous, proposed, cb));
  }

  /** deleteUser deletes the signed-in user from the pool (DeleteUser). */
  async deleteUser() {
    await this.token();
    await call((cb) => this.user.deleteUser(cb));
    this.forget();
  }
}
