// Stand-in for the app's logger: counts events so the driver can report what happened.
'use strict';
const counts = {};
module.exports = () => ({
  info(event) { counts[event] = (counts[event] || 0) + 1; },
  warn() {},
  error(event, fields) { console.error(event, fields); },
});
module.exports.counts = counts;
