// Live preview over a WebSocket: one request in flight plus one trailing request; every request
// carries a sequence number, and a frame older than the last one drawn is never drawn.
(function () {
  "use strict";
  const image = document.getElementById("preview");
  const slider = document.getElementById("strength");
  const valueLabel = document.getElementById("strength-value");
  const frameInfo = document.getElementById("frame-info");
  const renderMode = document.getElementById("render-mode");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/preview/`);
  socket.binaryType = "arraybuffer";

  let nextSeq = 1;
  let drawnSeq = 0;
  let inFlight = false;
  let trailing = false;
  let lastUrl = null;
  let stallTimer = null;
  const STALL_MS = 4000;

  function stalled() {
    inFlight = false;
    frameInfo.textContent = "the renderer is not answering (is a preview worker running?); asking again";
    request();  // the unanswered request may have expired on a busy worker: ask for the current value
  }

  function request() {
    if (socket.readyState !== WebSocket.OPEN) return;
    if (inFlight) { trailing = true; return; }
    inFlight = true;
    clearTimeout(stallTimer);
    stallTimer = setTimeout(stalled, STALL_MS);
    socket.send(JSON.stringify({ type: "smoke", seq: nextSeq++, strength: Number(slider.value) }));
  }

  function draw(buffer) {
    const { header, image: blob } = window.FaceLab.decodeFrame(buffer);
    inFlight = false;
    clearTimeout(stallTimer);
    if (trailing) { trailing = false; request(); }
    if (header.seq <= drawnSeq) return;
    drawnSeq = header.seq;
    if (lastUrl) URL.revokeObjectURL(lastUrl);
    lastUrl = URL.createObjectURL(blob);
    image.src = lastUrl;
    image.dataset.seq = String(header.seq);
    frameInfo.textContent = `#${header.seq}, rendered in ${header.render_ms} ms`;
  }

  socket.addEventListener("open", request);
  socket.addEventListener("message", (event) => {
    if (typeof event.data === "string") {
      const message = JSON.parse(event.data);
      if (message.type === "hello") renderMode.textContent = message.render_mode;
      if (message.type === "error") { inFlight = false; frameInfo.textContent = message.error; }
      return;
    }
    draw(event.data);
  });
  socket.addEventListener("close", () => { renderMode.textContent = "disconnected: reload to retry"; });
  slider.addEventListener("input", () => { valueLabel.textContent = Number(slider.value).toFixed(2); request(); });
})();
