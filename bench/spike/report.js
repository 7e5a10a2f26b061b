// Posts the <video>'s state to the spike server every second, so the run
// needs neither CDP nor Marionette: the server log is the result.
// Page URL: ?run=<label>&src=<manifest URL>
const params = new URLSearchParams(location.search);
const run = (params.get('run') || 'unnamed') + '#' + Math.random().toString(36).slice(2, 6);
const video = document.getElementById('v');
const errors = [];
function report(extra) {
  const b = video.buffered;
  const state = Object.assign({
    run, ua: navigator.userAgent.slice(-40), currentTime: video.currentTime,
    readyState: video.readyState, paused: video.paused,
    buffered: b.length ? [b.start(0), b.end(b.length - 1)] : null,
    frames: video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality().totalVideoFrames : null,
    mediaError: video.error ? video.error.code + ':' + video.error.message : null,
    errors: errors.slice(-5),
  }, extra || {});
  fetch('/report', {method: 'POST', body: JSON.stringify(state)}).catch(() => {});
}
function fail(where, e) {
  errors.push(where + ': ' + (e && (e.code || e.message || e.details) ? JSON.stringify(
      {code: e.code, message: e.message, data: e.data, details: e.details, type: e.type}) : String(e)));
  report();
}
setInterval(() => report(window.playerExtra ? window.playerExtra() : {}), 1000);
