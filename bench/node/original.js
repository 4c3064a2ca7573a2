// Runs the original design as written: the JavaScript of its sprint plan, extracted
// unchanged into bench/.node/original/ (see bench/node.py), plus the stand-ins it
// assumes (logger, db, paths) from original-glue/. Submits every photo at once,
// as 100 uploads would, and waits for all of them.
//   node bench/node/original.js CORPUS OUT APP_DIR     (prints one JSON summary line)
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [corpus, out, app] = process.argv.slice(2).map((p) => path.resolve(p));
  const started = process.hrtime.bigint();
  process.env.ORIGINAL_DB = path.join(out, 'original.db');
  process.env.ORIGINAL_OUT = out;
  const paths = require(path.join(app, 'server/services/paths.js'));
  const { counts } = require(path.join(app, 'server/utils/logger2.js'));
  const { generateDerivatives } = require(path.join(app, 'server/services/imageProcessor.js'));
  const photos = fs.readdirSync(corpus).filter((n) => /\.jpe?g$/i.test(n)).sort();
  let failed = 0;
  await Promise.all(
    photos.map(async (name, i) => {
      const stem = path.parse(name).name;
      paths.register(i + 1, stem);
      fs.mkdirSync(path.join(out, stem), { recursive: true });
      try {
        await generateDerivatives(i + 1, path.join(corpus, name));
      } catch (err) {
        failed++;
        console.error(`${name}: ${err.message}`);
      }
    }),
  );
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const summary = {
    rendered: counts.derivatives_generated || 0,
    cached: counts.derivatives_cached || 0,
    failed,
    wall_seconds: wall,
  };
  console.log(JSON.stringify(summary));
  process.exit(failed ? 1 : 0); // the design's pool keeps its worker threads alive
}

main();
