// sharp written well: one decode per photo to preview-sized raw pixels, both progressive
// encodes from those pixels, auto-orient, never upscale, as many photos in flight as cores.
//   node bench/node/sharp_well.js CORPUS OUT      (prints one JSON summary line)
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { createRequire } = require('module');

const modules = process.env.BENCH_NODE_MODULES || path.join(__dirname, '..', '.node', 'node_modules');
const sharp = createRequire(path.join(modules, 'noop.js'))('sharp');

const PREVIEW = { box: 1200, quality: 85 };
const THUMBNAIL = { box: 200, quality: 80 };
const inside = (box) => ({ width: box, height: box, fit: 'inside', withoutEnlargement: true });

async function renderOne(source, folder) {
  const { data, info } = await sharp(source, { failOn: 'truncated' })
    .rotate()
    .resize(inside(PREVIEW.box))
    .raw()
    .toBuffer({ resolveWithObject: true });
  const raw = { raw: { width: info.width, height: info.height, channels: info.channels } };
  await fs.promises.mkdir(folder, { recursive: true });
  await Promise.all([
    sharp(data, raw)
      .jpeg({ quality: PREVIEW.quality, progressive: true })
      .toFile(path.join(folder, 'preview.jpg')),
    sharp(data, raw)
      .resize(inside(THUMBNAIL.box))
      .jpeg({ quality: THUMBNAIL.quality, progressive: true })
      .toFile(path.join(folder, 'thumbnail.jpg')),
  ]);
}

async function main() {
  const [corpus, out] = process.argv.slice(2);
  const started = process.hrtime.bigint();
  sharp.concurrency(1); // one libvips thread per operation: the parallelism is photos in flight
  const photos = fs.readdirSync(corpus).filter((n) => /\.jpe?g$/i.test(n)).sort();
  const inFlight = Number(process.env.BENCH_IN_FLIGHT) || os.availableParallelism();
  let next = 0;
  let rendered = 0;
  let failed = 0;
  async function lane() {
    while (next < photos.length) {
      const name = photos[next++];
      try {
        await renderOne(path.join(corpus, name), path.join(out, path.parse(name).name));
        rendered++;
      } catch (err) {
        failed++;
        console.error(`${name}: ${err.message}`);
      }
    }
  }
  await Promise.all(Array.from({ length: inFlight }, lane));
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(JSON.stringify({ rendered, cached: 0, failed, wall_seconds: wall }));
  process.exitCode = failed ? 1 : 0;
}

main();
