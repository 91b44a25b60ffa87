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

  async function drawFace(canvas, photo, maxSize = 420) {
    const image = await loadImage(photo.image_url);
    const scale = Math.min(1, maxSize / Math.max(image.naturalWidth, image.naturalHeight));
    canvas.width = Math.round(image.naturalWidth * scale);
    canvas.height = Math.round(image.naturalHeight * scale);
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0, canvas.width, canvas.height);
    const unit = Math.max(1.5, canvas.width / 220);
    if (photo.face_box) {
      const [left, top, right, bottom] = photo.face_box.map((value) => value * scale);
      context.strokeStyle = "#4dabf7";
      context.lineWidth = unit;
      context.setLineDash([unit * 3, unit * 2]);
      context.strokeRect(left, top, right - left, bottom - top);
      context.setLineDash([]);
    }
    const points = (photo.landmarks || []).map(([x, y]) => [x * scale, y * scale]);
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
