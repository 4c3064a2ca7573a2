// ThumbHash placeholder decoding for the gallery: base64 hash -> small PNG data URL.
// Follows the published ThumbHash format (Evan Wallace, https://evanw.github.io/thumbhash/):
// a DC value and a few low-frequency cosine coefficients per channel (L, P, Q, alpha).
"use strict";

const ThumbHash = (() => {
  function bytesOf(base64) {
    return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  }

  function aspectRatio(hash) {
    const hasAlpha = hash[2] & 0x80;
    const landscape = hash[4] & 0x80;
    const lx = landscape ? (hasAlpha ? 5 : 7) : hash[3] & 7;
    const ly = landscape ? hash[3] & 7 : (hasAlpha ? 5 : 7);
    return lx / ly;
  }

  // Decode to {w, h, rgba}: at most 32 px on the long side, as the format intends.
  function toRGBA(hash) {
    const header24 = hash[0] | (hash[1] << 8) | (hash[2] << 16);
    const header16 = hash[3] | (hash[4] << 8);
    const lDC = (header24 & 63) / 63;
    const pDC = ((header24 >> 6) & 63) / 31.5 - 1;
    const qDC = ((header24 >> 12) & 63) / 31.5 - 1;
    const lScale = ((header24 >> 18) & 31) / 31;
    const hasAlpha = header24 >> 23;
    const pScale = ((header16 >> 3) & 63) / 63;
    const qScale = ((header16 >> 9) & 63) / 63;
    const landscape = header16 >> 15;
    const lx = Math.max(3, landscape ? (hasAlpha ? 5 : 7) : header16 & 7);
    const ly = Math.max(3, landscape ? header16 & 7 : (hasAlpha ? 5 : 7));
    const aDC = hasAlpha ? (hash[5] & 15) / 15 : 1;
    const aScale = (hash[5] >> 4) / 15;
    const start = hasAlpha ? 6 : 5;
    let nibble = 0;

    // Coefficients are 4-bit values, low nibble first, in a triangle of (cx, cy).
    function channel(nx, ny, scale) {
      const ac = [];
      for (let cy = 0; cy < ny; cy++) {
        for (let cx = cy ? 0 : 1; cx * ny < nx * (ny - cy); cx++) {
          const byte = hash[start + (nibble >> 1)];
          const value = (byte >> ((nibble & 1) << 2)) & 15;
          nibble += 1;
          ac.push((value / 7.5 - 1) * scale);
        }
      }
      return ac;
    }

    const lAC = channel(lx, ly, lScale);
    const pAC = channel(3, 3, pScale * 1.25);
    const qAC = channel(3, 3, qScale * 1.25);
    const aAC = hasAlpha ? channel(5, 5, aScale) : null;

    const ratio = aspectRatio(hash);
    const w = Math.round(ratio > 1 ? 32 : 32 * ratio);
    const h = Math.round(ratio > 1 ? 32 / ratio : 32);
    const rgba = new Uint8Array(w * h * 4);  // truncates, like the reference encoder's decoder
    const nx = Math.max(lx, hasAlpha ? 5 : 3);
    const ny = Math.max(ly, hasAlpha ? 5 : 3);
    const fx = new Float64Array(nx);
    const fy = new Float64Array(ny);

    for (let y = 0, i = 0; y < h; y++) {
      for (let x = 0; x < w; x++, i += 4) {
        let l = lDC, p = pDC, q = qDC, a = aDC;
        for (let cx = 0; cx < nx; cx++) fx[cx] = Math.cos((Math.PI / w) * (x + 0.5) * cx);
        for (let cy = 0; cy < ny; cy++) fy[cy] = Math.cos((Math.PI / h) * (y + 0.5) * cy);
        for (let cy = 0, j = 0; cy < ly; cy++) {
          const fy2 = fy[cy] * 2;
          for (let cx = cy ? 0 : 1; cx * ly < lx * (ly - cy); cx++, j++) l += lAC[j] * fx[cx] * fy2;
        }
        for (let cy = 0, j = 0; cy < 3; cy++) {
          const fy2 = fy[cy] * 2;
          for (let cx = cy ? 0 : 1; cx < 3 - cy; cx++, j++) {
            const f = fx[cx] * fy2;
            p += pAC[j] * f;
            q += qAC[j] * f;
          }
        }
        if (aAC) {
          for (let cy = 0, j = 0; cy < 5; cy++) {
            const fy2 = fy[cy] * 2;
            for (let cx = cy ? 0 : 1; cx < 5 - cy; cx++, j++) a += aAC[j] * fx[cx] * fy2;
          }
        }
        // L, P, Q back to R, G, B
        const b = l - (2 / 3) * p;
        const r = (3 * l - b + q) / 2;
        const g = r - q;
        rgba[i] = Math.max(0, 255 * Math.min(1, r));
        rgba[i + 1] = Math.max(0, 255 * Math.min(1, g));
        rgba[i + 2] = Math.max(0, 255 * Math.min(1, b));
        rgba[i + 3] = Math.max(0, 255 * Math.min(1, a));
      }
    }
    return { w, h, rgba };
  }

  const canvas = document.createElement("canvas");

  // A data URL of the placeholder, to paint at once behind a loading image.
  function toDataURL(base64) {
    const { w, h, rgba } = toRGBA(bytesOf(base64));
    canvas.width = w;
    canvas.height = h;
    canvas.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(rgba.buffer), w, h), 0, 0);
    return canvas.toDataURL();
  }

  return { toRGBA, toDataURL, bytesOf };
})();
