// Draws a photo with its detected face box and 68 landmarks (both in the photo's pixels) on a canvas.
(function () {
  "use strict";
  // dlib's 68-point layout: jaw, brows, nose bridge, nostrils, eyes (closed), lips (closed).
  const PATHS = [[0, 16, false], [17, 21, false], [22, 26, false], [27, 30, false], [31, 35, false],
    [36, 41, true], [42, 47, true], [48, 59, true], [60, 67, true]];

  function loadImage(url) {
    return new Promise((resolve, reject) => {
      const image = new Image();
      image.onload = () => resolve(image);
      image.onerror = () => reject(new Error("the photo could not be loaded"));
      image.src = url;
    });
  }

  // The whole photo, or with `zoom` the face and a margin around it, scaled to fit `maxSize`.
  async function drawFace(canvas, photo, { maxSize = 420, zoom = false } = {}) {
    const image = await loadImage(photo.image_url);
    let [sx, sy, sw, sh] = [0, 0, image.naturalWidth, image.naturalHeight];
    if (zoom && photo.face_box) {
      const [left, top, right, bottom] = photo.face_box;
      const side = Math.max(right - left, bottom - top) * 1.7;
      sw = sh = Math.min(side, image.naturalWidth, image.naturalHeight);
      sx = Math.min(Math.max(0, (left + right) / 2 - sw / 2), image.naturalWidth - sw);
      sy = Math.min(Math.max(0, (top + bottom) / 2 - sh / 2), image.naturalHeight - sh);
    }
    const scale = Math.min(zoom ? 8 : 1, maxSize / Math.max(sw, sh));
    canvas.width = Math.round(sw * scale);
    canvas.height = Math.round(sh * scale);
    const context = canvas.getContext("2d");
    context.drawImage(image, sx, sy, sw, sh, 0, 0, canvas.width, canvas.height);
    const unit = Math.max(1.5, canvas.width / (zoom ? 160 : 220));
    const at = ([x, y]) => [(x - sx) * scale, (y - sy) * scale];
    if (photo.face_box) {
      const [left, top] = at(photo.face_box.slice(0, 2));
      const [right, bottom] = at(photo.face_box.slice(2, 4));
      context.strokeStyle = "#4dabf7";
      context.lineWidth = unit;
      context.setLineDash([unit * 3, unit * 2]);
      context.strokeRect(left, top, right - left, bottom - top);
      context.setLineDash([]);
    }
    const points = (photo.landmarks || []).map(at);
    if (points.length === 68) {
      context.strokeStyle = "rgba(255, 255, 255, 0.75)";
      context.lineWidth = unit * 0.6;
      for (const [from, to, closed] of PATHS) {
        context.beginPath();
        context.moveTo(...points[from]);
        for (let i = from + 1; i <= to; i++) context.lineTo(...points[i]);
        if (closed) context.closePath();
        context.stroke();
      }
    }
    context.fillStyle = "#ff6b6b";
    for (const [x, y] of points) {
      context.beginPath();
      context.arc(x, y, unit, 0, 2 * Math.PI);
      context.fill();
    }
    canvas.dataset.landmarks = String(points.length);
    return canvas;
  }

  window.FaceLab = Object.assign(window.FaceLab || {}, { drawFace, loadImage });
})();
