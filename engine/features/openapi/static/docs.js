// The /docs page's "try a request" form. Served as a same-origin file so the page can run under
// a Content-Security-Policy without 'unsafe-inline'. Responses are shown with textContent only.
"use strict";

(function () {
  const BODYLESS = new Set(["GET", "HEAD", "DELETE"]);

  function pretty(text) {
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch (error) {
      return text;
    }
  }

  // The URL the browser would request for `path`, or null unless it is on this page's origin.
  // The check is on the parsed URL, as the browser resolves it: "/\\evil.example/x" and
  // "//evil.example/x" both name another host, so a pasted token never leaves this server.
  function sameOriginUrl(path) {
    if (!path.startsWith("/")) {
      return null;
    }
    let url;
    try {
      url = new URL(path, window.location.origin);
    } catch (error) {
      return null;
    }
    return url.origin === window.location.origin ? url.href : null;
  }

  async function send(form, status, output) {
    const method = form.elements.method.value;
    const path = form.elements.path.value.trim();
    const token = form.elements.token.value.trim();
    const body = form.elements.body.value.trim();
    const target = sameOriginUrl(path);
    if (target === null) {
      status.textContent = "The path must start with a single / (requests go to this server only).";
      return;
    }
    const headers = { Accept: "application/json, application/problem+json" };
    if (token) {
      headers.Authorization = "Bearer " + token;
    }
    const init = { method: method, headers: headers, credentials: "same-origin" };
    if (body && !BODYLESS.has(method)) {
      headers["Content-Type"] = "application/json";
      init.body = body;
    }
    status.textContent = "Sending " + method + " " + path + " ...";
    output.textContent = "";
    try {
      const response = await fetch(target, init);
      const text = await response.text();
      status.textContent = response.status + " " + response.statusText;
      status.dataset.status = String(response.status);
      output.textContent = pretty(text);
    } catch (error) {
      status.textContent = "The request failed: " + error.message;
    }
  }

  function prefill(form, button) {
    form.elements.method.value = button.dataset.method;
    form.elements.path.value = button.dataset.path;
    form.elements.body.value = button.dataset.body || "";
    form.scrollIntoView();
    form.elements.path.focus();
  }

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("try-form");
    const status = document.getElementById("try-status");
    const output = document.querySelector("#try-response code");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      send(form, status, output);
    });
    document.querySelectorAll("button.try-this").forEach(function (button) {
      button.addEventListener("click", function () {
        prefill(form, button);
      });
    });
    document.body.dataset.ready = "true";
  });
})();
