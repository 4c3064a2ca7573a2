// Stand-in for the app's derivative paths: <out>/<photo file stem>/<type>.jpg.
'use strict';
const path = require('path');

const stems = new Map();
exports.register = (photoId, stem) => stems.set(photoId, stem);
const folder = (photoId) => path.join(process.env.ORIGINAL_OUT, stems.get(photoId));
exports.getThumbnailPath = (photoId) => path.join(folder(photoId), 'thumbnail.jpg');
exports.getPreviewPath = (photoId) => path.join(folder(photoId), 'preview.jpg');
