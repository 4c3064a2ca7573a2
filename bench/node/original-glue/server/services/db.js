// Stand-in for the app's database module: one better-sqlite3 file per benchmark run.
'use strict';
const Database = require('better-sqlite3');

let db;
exports.getDb = () => {
  if (!db) db = new Database(process.env.ORIGINAL_DB);
  return db;
};
