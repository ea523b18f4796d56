// The app's icons, drawn at build time (no binary files in the repository): a white
// check mark on the app's blue, as PNG. "any" icons have rounded corners; the maskable
// one fills the square and keeps the mark inside the safe zone (the middle 80%).

import { deflateSync } from "node:zlib";

const BLUE = [31, 111, 235];
const WHITE = [255, 255, 255];

function crc32(buf) {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "ascii");
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** encodePNG writes RGBA pixels (width*height*4 bytes) as a PNG. */
export function encodePNG(width, height, rgba) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // RGBA
  const raw = Buffer.alloc(height * (width * 4 + 1));
  for (let y = 0; y < height; y++) {
    raw[y * (width * 4 + 1)] = 0; // no filter
    rgba.copy(raw, y * (width * 4 + 1) + 1, y * width * 4, (y + 1) * width * 4);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(raw, { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

function distToSegment(px, py, ax, ay, bx, by) {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

/** iconPNG draws the icon at size pixels; maskable fills the whole square. */
export function iconPNG(size, maskable = false) {
  const px = Buffer.alloc(size * size * 4);
  const radius = maskable ? 0 : size * 0.22;
  const scale = maskable ? 0.7 : 1; // the mark stays in the safe zone
  const c = size / 2;
  const pts = [
    [0.27, 0.52],
    [0.43, 0.68],
    [0.74, 0.35],
  ].map(([x, y]) => [c + (x - 0.5) * size * scale, c + (y - 0.5) * size * scale]);
  const half = size * 0.055 * scale;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const sx = x + 0.5;
      const sy = y + 0.5;
      // Rounded square: distance outside the corner circles.
      const qx = Math.max(radius - sx, sx - (size - radius), 0);
      const qy = Math.max(radius - sy, sy - (size - radius), 0);
      const outside = Math.hypot(qx, qy) - radius;
      const alpha = radius === 0 ? 1 : Math.max(0, Math.min(1, 0.5 - outside));
      const d = Math.min(distToSegment(sx, sy, ...pts[0], ...pts[1]), distToSegment(sx, sy, ...pts[1], ...pts[2]));
      const mark = Math.max(0, Math.min(1, half + 0.5 - d));
      const i = (y * size + x) * 4;
      for (let k = 0; k < 3; k++) px[i + k] = Math.round(BLUE[k] + (WHITE[k] - BLUE[k]) * mark);
      px[i + 3] = Math.round(alpha * 255);
    }
  }
  return encodePNG(size, size, px);
}
