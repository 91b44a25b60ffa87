// My photos: upload by drag and drop or the file picker with a progress bar, then the face found
// (landmarks drawn over the photo) or the reason it was refused; the list with delete and edit.
(function () {
  "use strict";
  const { api, apiAll, el, say, csrfToken, drawFace, when } = window.FaceLab;
  const dropzone = document.getElementById("dropzone");
  const fileInput = document.getElementById("photo-file");
  const progress = document.getElementById("upload-progress");
  const bar = document.getElementById("upload-bar");
  const percent = document.getElementById("upload-percent");
  const message = document.getElementById("upload-message");
  const result = document.getElementById("face-result");
  const canvas = document.getElementById("face-canvas");
  const list = document.getElementById("photo-list");
  const listMessage = document.getElementById("list-message");
  let uploading = false;

  function upload(file) {
    if (uploading || !file) return;
    uploading = true;
    result.hidden = true;
    say(message, `Uploading ${file.name}…`);
    progress.hidden = false;
    bar.value = 0;
    bar.removeAttribute("data-done");
    percent.textContent = "0 %";
    const form = new FormData();
    form.append("image", file);
    form.append("title", file.name.replace(/\.[^.]+$/, "").slice(0, 200));
    const request = new XMLHttpRequest();
    request.open("POST", "/api/photos/");
    request.setRequestHeader("X-CSRFToken", csrfToken());
    request.setRequestHeader("Accept", "application/json");
    request.responseType = "json";
    request.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      const value = Math.round((event.loaded / event.total) * 100);
      bar.value = value;
      percent.textContent = value < 100 ? `${value} %` : "finding the face…";
    });
    request.addEventListener("load", () => {
      uploading = false;
      bar.value = 100;
      bar.dataset.done = "true";
      percent.textContent = "done";
      const body = request.response;
      if (request.status === 201) {
        showPhoto(body, true);
        loadList();
      } else {
        result.hidden = true;
        const why = FaceLab.reason(body, `the server answered ${request.status}`);
        say(message, `${file.name} was not accepted: ${why.replace(/^image: /, "")}`, "error");
      }
    });
    request.addEventListener("error", () => {
      uploading = false;
      say(message, "The upload failed: the connection was lost. Try again.", "error");
    });
    request.send(form);
  }

  async function showPhoto(photo, justUploaded) {
    result.hidden = false;
    result.dataset.status = photo.status;
    result.dataset.photo = photo.id;
    const title = document.getElementById("face-title");
    const details = document.getElementById("face-details");
    const edit = document.getElementById("face-edit");
    if (photo.status === "ready") {
      title.textContent = "Face found";
      details.textContent = `${photo.width} × ${photo.height} px · 68 landmarks · aligned for ` +
        Object.keys(photo.crops).join(", ");
      edit.hidden = false;
      edit.href = `/photos/${photo.id}/edit/`;
      say(message, justUploaded ? `${photo.title || "Your photo"} is ready to edit.` : "", "ok");
    } else {
      title.textContent = "No face to edit";
      details.textContent = "Try a photo where one face is clearly visible, facing the camera.";
      edit.hidden = true;
      say(message, photo.error || "No face was found in this photo.", "error");
    }
    const zoom = document.getElementById("face-zoom");
    zoom.hidden = !photo.face_box;
    try {
      await Promise.all([drawFace(canvas, photo, { maxSize: 320 }),
        photo.face_box ? drawFace(zoom, photo, { maxSize: 240, zoom: true }) : null]);
    } catch (error) {
      say(message, error.message, "error");
    }
  }

  function photoCard(photo) {
    const ready = photo.status === "ready";
    const thumb = el("button", { class: "thumb-button", type: "button", title: "Show the face found",
      "aria-label": `Show the face found in ${photo.title || photo.id}`, onclick: () => showPhoto(photo, false) },
    el("img", { src: photo.image_url, alt: photo.title || "photo", loading: "lazy" }));
    const remove = el("button", { type: "button", class: "danger small", dataset: { testid: "photo-delete" },
      onclick: async () => {
        if (!window.confirm(`Delete "${photo.title || photo.id}" and everything made from it?`)) return;
        try {
          await api(`/api/photos/${photo.id}/`, { method: "DELETE" });
          if (result.dataset.photo === photo.id) result.hidden = true;
          say(listMessage, `Deleted ${photo.title || photo.id}.`, "ok");
          loadList();
        } catch (error) {
          say(listMessage, `Could not delete it: ${error.message}`, "error");
        }
      } }, "Delete");
    return el("li", { class: "card", dataset: { testid: "photo-card", photo: photo.id, status: photo.status } },
      thumb,
      el("div", { class: "card-body" },
        el("strong", { class: "card-title" }, photo.title || photo.id),
        el("span", { class: `badge ${ready ? "badge-ok" : "badge-error"}` }, ready ? "face found" : "no face"),
        el("span", { class: "muted small" }, when(photo.created)),
        ready ? null : el("span", { class: "error-text small" }, photo.error)),
      el("div", { class: "card-actions" },
        ready ? el("a", { class: "button small", href: `/photos/${photo.id}/edit/`, dataset: { testid: "photo-edit" } }, "Edit") : null,
        remove));
  }

  async function loadList() {
    try {
      const photos = await apiAll("/api/photos/");
      list.replaceChildren(...photos.map(photoCard));
      document.getElementById("photo-empty").hidden = photos.length > 0;
      document.getElementById("photo-count").textContent = photos.length ? `${photos.length} photo${photos.length > 1 ? "s" : ""}` : "";
    } catch (error) {
      say(listMessage, `Could not load your photos: ${error.message}`, "error");
    }
  }

  fileInput.addEventListener("change", () => { upload(fileInput.files[0]); fileInput.value = ""; });
  // A file chosen while the page was still loading fired "change" before this script ran.
  if (fileInput.files.length) { upload(fileInput.files[0]); fileInput.value = ""; }
  for (const name of ["dragenter", "dragover"]) {
    dropzone.addEventListener(name, (event) => { event.preventDefault(); dropzone.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    dropzone.addEventListener(name, (event) => { event.preventDefault(); dropzone.classList.remove("over"); });
  }
  dropzone.addEventListener("drop", (event) => {
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) upload(file);
  });
  loadList();
})();
