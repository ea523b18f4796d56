// The MyTodoList mobile app's path to its S3 folder, written the way an app developer
// would with the libraries they would pick, none of them from this project:
// amazon-cognito-identity-js signs up and signs in with SRP, the AWS SDK for
// JavaScript v3 turns the id token into identity-pool credentials
// (fromCognitoIdentityPool) and puts an object in S3; the API is called with fetch.
//
// test/e2e/mobileapp_test.go runs it against the local stack and reads the one JSON
// line it prints. Settings come from the environment (see `need` below); the API's
// certificate is trusted through NODE_EXTRA_CA_CERTS.

import {
  AuthenticationDetails,
  CognitoUser,
  CognitoUserAttribute,
  CognitoUserPool,
} from "amazon-cognito-identity-js";
import { fromCognitoIdentityPool } from "@aws-sdk/credential-providers";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

const region = need("REGION");
const endpoint = need("AWS_ENDPOINT"); // moto; in the app, AWS's own endpoints
const apiURL = need("API_URL");
const email = need("EMAIL");
const password = need("PASSWORD");
const key = need("KEY");

const pool = new CognitoUserPool({
  UserPoolId: need("USER_POOL_ID"),
  ClientId: need("CLIENT_ID"),
  endpoint,
});

const promised = (fn) => new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));

await promised((cb) =>
  pool.signUp(email, password, [new CognitoUserAttribute({ Name: "email", Value: email })], null, cb),
);
const user = new CognitoUser({ Username: email, Pool: pool });
await promised((cb) => user.confirmRegistration("123456", true, cb)); // moto takes any code
const session = await new Promise((resolve, reject) =>
  user.authenticateUser(new AuthenticationDetails({ Username: email, Password: password }), {
    onSuccess: resolve,
    onFailure: reject,
  }),
);
const idToken = session.getIdToken().getJwtToken();
const sub = session.getIdToken().decodePayload().sub;

async function listFiles() {
  const resp = await fetch(`${apiURL}/v1/files`, { headers: { Authorization: `Bearer ${idToken}` } });
  if (!resp.ok) throw new Error(`GET /v1/files: ${resp.status} ${await resp.text()}`);
  return resp.json();
}

// The app never builds its folder: the API states it.
const before = await listFiles();

const credentials = fromCognitoIdentityPool({
  identityPoolId: need("IDENTITY_POOL_ID"),
  logins: { [need("PROVIDER")]: idToken },
  clientConfig: { region, endpoint },
});
const s3 = new S3Client({ region, endpoint, forcePathStyle: true, credentials });
await s3.send(
  new PutObjectCommand({
    Bucket: need("BUCKET"),
    Key: before.prefix + key,
    Body: "written by the mobile app with identity-pool credentials",
    ContentType: "text/plain",
  }),
);

const after = await listFiles();
const creds = await credentials();
console.log(
  JSON.stringify({
    flow: user.getAuthenticationFlowType(),
    sub,
    prefix: before.prefix,
    before: before.items.map((it) => it.key),
    after: after.items.map((it) => it.key),
    identityId: creds.identityId,
  }),
);
