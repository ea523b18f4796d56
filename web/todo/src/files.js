// The user's own folder, straight to S3 with identity-pool credentials (the AWS SDK
// for JavaScript v3): list, upload (lib-storage: multipart above one part, with
// progress; a failed upload is aborted, so nothing is left half-written), download,
// delete. The folder is the one the API states; the app never builds it. Loaded on
// demand: the to-do list does not wait for the SDK.

import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { fromCognitoIdentityPool } from "@aws-sdk/credential-providers";
import { Upload } from "@aws-sdk/lib-storage";

import { AppError, formatBytes } from "./messages.js";

/** PART_SIZE is the multipart part size (S3's minimum is 5 MiB). */
export const PART_SIZE = 5 * 1024 * 1024;

/** checkName refuses a file name S3 or the folder rules would not take, before any call. */
export function checkName(name, prefix) {
  const n = (name || "").normalize("NFC");
  const bytes = new TextEncoder().encode(prefix + n).length;
  // eslint-disable-next-line no-control-regex
  if (!n || /[\u0000-\u001f\u007f-\u009f\u2028\u2029\\/]/.test(n) || n === "." || n === "..") {
    throw new AppError("bad_name", `“${name}” can't be uploaded: rename it without slashes or control characters.`);
  }
  if (bytes > 1024) throw new AppError("bad_name", `The name “${name}” is too long: rename the file and try again.`);
  return n;
}

/** checkSize refuses a file over the app's upload limit, before any call. */
export function checkSize(file, max) {
  if (file.size > max) {
    throw new AppError("file_too_large", `“${file.name}” is ${formatBytes(file.size)}: the largest file you can upload is ${formatBytes(max)}.`);
  }
  if (file.size === 0) throw new AppError("empty_file", `“${file.name}” is empty: there is nothing to upload.`);
}

export class Folder {
  /** config is the app's config.json; idToken() returns a valid id token; prefix is the API's. */
  constructor(config, idToken, prefix) {
    this.bucket = config.filesBucket;
    this.prefix = prefix;
    const endpoint = config.awsEndpoint || undefined;
    this.credentials = fromCognitoIdentityPool({
      identityPoolId: config.identityPoolId,
      logins: { [config.identityProvider]: idToken },
      clientConfig: { region: config.region, endpoint },
    });
    // Checksums only where S3 requires them, as todo-api's client: a CRC32 of every
    // part computed in JavaScript is CPU a phone need not spend, and TLS protects the
    // bytes on the way.
    this.s3 = new S3Client({
      region: config.region,
      endpoint,
      forcePathStyle: !!config.s3ForcePathStyle,
      credentials: this.credentials,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  }

  async list() {
    const out = [];
    let token;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ContinuationToken: token }));
      for (const o of page.Contents || []) {
        if (!o.Key.startsWith(this.prefix)) continue;
        out.push({ name: o.Key.slice(this.prefix.length), size: o.Size, lastModified: o.LastModified });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    out.sort((a, b) => a.name.localeCompare(b.name));
    return out;
  }

  /** exists says whether name is already in the folder. */
  async exists(name) {
    try {
      await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + name }));
      return true;
    } catch (err) {
      if (err.name === "NotFound" || err.name === "NoSuchKey" || (err.$metadata && err.$metadata.httpStatusCode === 404)) return false;
      throw err;
    }
  }

  /** upload sends file as name, reporting progress(loaded, total); resolves when stored. */
  async upload(file, name, progress) {
    const up = new Upload({
      client: this.s3,
      params: { Bucket: this.bucket, Key: this.prefix + name, Body: file, ContentType: file.type || "application/octet-stream" },
      partSize: PART_SIZE,
      queueSize: 4,
      leavePartsOnError: false,
    });
    up.on("httpUploadProgress", (p) => progress(p.loaded || 0, p.total || file.size));
    this.current = up;
    try {
      await up.done();
    } finally {
      this.current = null;
    }
  }

  /** cancel stops an upload under way (its parts are aborted). */
  async cancel() {
    if (this.current) await this.current.abort();
  }

  async download(name) {
    const r = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + name }));
    const bytes = await r.Body.transformToByteArray();
    return new Blob([bytes], { type: r.ContentType || "application/octet-stream" });
  }

  remove(name) {
    return this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + name }));
  }
}
