// Fetches data.json and writes it into the page; reports the image's size
// once it has loaded. The browser test reads both from the DOM.
"use strict";

function showImage(img) {
  const status = document.getElementById("image-status");
  status.textContent = `image loaded: ${img.naturalWidth}x${img.naturalHeight}`;
  status.dataset.width = String(img.naturalWidth);
}

const logo = document.getElementById("logo");
if (logo.complete && logo.naturalWidth > 0) {
  showImage(logo);
} else {
  logo.addEventListener("load", () => showImage(logo));
  logo.addEventListener("error", () => {
    document.getElementById("image-status").textContent = "image failed";
  });
}

fetch("data.json")
  .then((response) => {
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return response.json();
  })
  .then((data) => {
    const list = document.getElementById("items");
    list.replaceChildren(
      ...data.items.map((item) => {
        const li = document.createElement("li");
        li.textContent = `${item.name}: ${item.note}`;
        return li;
      }),
    );
    const status = document.getElementById("status");
    status.textContent = `script ran: ${data.items.length} items from ${data.source}`;
    status.className = "ok";
  })
  .catch((err) => {
    document.getElementById("status").textContent = `fetch failed: ${err.message}`;
  });
