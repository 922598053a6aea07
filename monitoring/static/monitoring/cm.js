// cm's only script: refresh status tables in place, and confirm before acting.
// Pages work without it: the table is then as fresh as the last load.
"use strict";

function refreshTable(box) {
  const body = box.querySelector(".cm-refresh-body");
  return fetch(window.location.href, { headers: { "X-CM-Partial": "1" }, credentials: "same-origin" })
    .then((response) => {
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return response.text();
    })
    .then((html) => {
      body.innerHTML = html;
      const stamp = box.querySelector(".cm-refreshed");
      const now = new Date();
      stamp.dateTime = now.toISOString();
      stamp.textContent = now.toISOString().slice(11, 19) + " UTC";
      box.classList.remove("cm-stale");
    })
    .catch(() => box.classList.add("cm-stale"));
}

function watch(box) {
  const seconds = Number(box.dataset.refreshSeconds) || 30;
  const paused = box.querySelector(".cm-refresh-pause");
  box.querySelector(".cm-refresh-now").addEventListener("click", () => refreshTable(box));
  window.setInterval(() => {
    if (!document.hidden && !(paused && paused.checked)) refreshTable(box);
  }, seconds * 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".cm-refresh").forEach(watch);
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
});
