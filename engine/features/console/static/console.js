// The console's one script (no dependencies, no inline script: the page's CSP allows only this file).
// Pages are rendered by the server from the spec; this script asks the engine's own REST API for
// the data, with the browser's session cookie and, on writes, the session's CSRF token. What a
// person sees is what the API answers to them.
"use strict";

(function () {
  const body = document.body;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (selector, root) => (root || document).querySelector(selector);
  const $$ = (selector, root) => Array.from((root || document).querySelectorAll(selector));
  const ACTIONS = ["created", "updated", "deleted"];

  async function api(method, path, options) {
    const { json, headers } = options || {};
    const sent = { Accept: "application/json", ...(headers || {}) };
    if (method !== "GET") sent["X-CSRF-Token"] = csrf;
    let payload;
    if (json !== undefined) {
      sent["Content-Type"] = "application/json";
      payload = JSON.stringify(json);
    }
    const response = await fetch(path, { method, headers: sent, body: payload, credentials: "same-origin" });
    const type = response.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await response.json() : null;
    return { status: response.status, ok: response.ok, data, etag: response.headers.get("ETag") };
  }

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  const rowHref = (resource, id) => `/console/r/${resource}/${encodeURIComponent(id)}`;

  function problemText(result) {
    const data = result.data || {};
    return data.detail || data.title || `The server answered ${result.status}.`;
  }

  function showError(node, message) {
    node.textContent = message;
    node.hidden = !message;
  }

  function display(value) {
    if (value === null) return el("span", { class: "muted", text: "null" });
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function cellText(value) {
    if (value === undefined) return "";
    if (value === null) return "null";
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  }

  // --- the table page -------------------------------------------------------------------------

  function setupFilterBuilder() {
    const form = $("#query-form");
    const fieldset = $("#filters");
    if (!form || !fieldset) return;
    const operators = JSON.parse(form.dataset.operators);
    let counter = $$(".filter-row", fieldset).length;
    const fillOperators = (row) => {
      const select = $(".filter-op", row);
      const kept = select.value;
      select.replaceChildren(
        ...operators[$(".filter-field", row).value].map(([op, label]) => el("option", { value: op, text: label }))
      );
      if ($$("option", select).some((option) => option.value === kept)) select.value = kept;
    };
    fieldset.addEventListener("change", (event) => {
      if (event.target.classList.contains("filter-field")) fillOperators(event.target.closest(".filter-row"));
    });
    fieldset.addEventListener("click", (event) => {
      if (!event.target.classList.contains("remove-filter")) return;
      const row = event.target.closest(".filter-row");
      if ($$(".filter-row", fieldset).length > 1) {
        const next = row.nextElementSibling;
        row.remove();
        (next && next.querySelector("select, input, button") || $("#add-filter")).focus();
      } else {
        $(".filter-value", row).value = "";
      }
    });
    $("#add-filter").addEventListener("click", () => {
      const template = $$(".filter-row", fieldset).pop();
      const row = template.cloneNode(true);
      counter += 1;
      for (const [cls, prefix] of [["filter-field", "f"], ["filter-op", "op"], ["filter-value", "v"]]) {
        const control = $("." + cls, row);
        control.id = `${prefix}-${counter}`;
        control.previousElementSibling.setAttribute("for", control.id);
      }
      $(".filter-value", row).value = "";
      template.after(row);
      fillOperators(row);
      $(".filter-field", row).focus();
    });
  }

  async function loadTable() {
    const resource = body.dataset.resource;
    const pk = body.dataset.pk;
    const columns = body.dataset.columns.split(",");
    const query = new URLSearchParams(body.dataset.apiQuery);
    if (body.dataset.counts === "true" && !query.has("count")) query.set("count", "exact");
    const status = $("#table-status");
    const result = await api("GET", `/api/${resource}?${query}`);
    if (!result.ok) {
      status.textContent = "";
      showError($("#table-error"), problemText(result));
      return;
    }
    const rows = result.data.data;
    const tbody = $("#rows tbody");
    tbody.replaceChildren(
      ...rows.map((row) =>
        el(
          "tr",
          { "data-id": row[pk] },
          ...columns.map((name) => {
            const text = cellText(row[name]);
            if (name === pk) return el("td", {}, el("a", { href: rowHref(resource, row[pk]), text }));
            return el("td", { title: text.length > 40 ? text.slice(0, 500) : null, class: row[name] === undefined ? "absent" : null, text });
          })
        )
      )
    );
    const meta = result.data.meta || {};
    const total = meta.count !== undefined ? meta.count : meta.total;
    status.textContent =
      `${rows.length} row${rows.length === 1 ? "" : "s"} on this page` + (total !== undefined ? ` of ${total}` : "") + ".";
    const next = $("#next-page");
    if (meta.next_cursor) {
      const params = new URLSearchParams(body.dataset.apiQuery);
      params.set("cursor", meta.next_cursor);
      next.href = `?${params}`;
      next.hidden = false;
    }
  }

  // --- live events ----------------------------------------------------------------------------

  function startLive(resource, recordId) {
    const state = $("#live-state");
    const list = $("#live-events");
    if (!state || !window.EventSource) return;
    const source = new EventSource(`/api/events/stream?resources=${encodeURIComponent(resource)}`);
    source.addEventListener("open", () => (state.textContent = "Connected: new events appear here as they happen."));
    source.addEventListener("error", () => (state.textContent = "Disconnected; reconnecting…"));
    const shown = (event) => {
      const data = JSON.parse(event.data);
      if (recordId !== undefined && data.record_id !== recordId) return;
      list.prepend(eventItem(data, true));
      const stale = $("#rows-stale");
      if (stale) stale.hidden = false;
      while (list.children.length > 50) list.lastElementChild.remove();
    };
    for (const action of ACTIONS) source.addEventListener(`${resource}.${action}`, shown);
    window.addEventListener("pagehide", () => source.close());
  }

  function eventItem(event, withRecord) {
    const changed = event.changes ? Object.keys(event.changes).join(", ") : "";
    return el(
      "li",
      { class: "event", "data-action": event.action, "data-record-id": event.record_id },
      el("strong", { text: event.action }),
      " ",
      withRecord && event.action !== "deleted"
        ? el("a", { href: rowHref(event.resource, event.record_id), text: event.record_id })
        : el("code", { text: withRecord ? event.record_id : "" }),
      ` by ${event.actor || "anonymous"} at ${event.at}`,
      changed ? el("span", { class: "muted", text: ` (changed: ${changed})` }) : null
    );
  }

  // --- the row page ---------------------------------------------------------------------------

  async function loadRow() {
    const resource = body.dataset.resource;
    const id = body.dataset.rowId;
    const path = `/api/${resource}/${encodeURIComponent(id)}`;
    const result = await api("GET", path);
    const status = $("#row-status");
    status.textContent = "";
    if (!result.ok) {
      showError($("#row-error"), result.status === 404 ? "No such row, or you may not read it." : problemText(result));
      for (const button of $$("#edit-link, #delete-start")) button.hidden = true;
      return;
    }
    const row = result.data.data;
    for (const item of $$("#row-fields [data-field]")) {
      const name = item.dataset.field;
      if (!(name in row)) continue; // a field the API does not give this caller
      item.hidden = false;
      const value = row[name];
      const dd = $("dd", item);
      if (item.dataset.reference && value !== null) dd.append(el("a", { href: rowHref(item.dataset.reference, value), text: String(value) }));
      else if (value !== null && typeof value === "object") dd.append(el("pre", { text: JSON.stringify(value, null, 2) }));
      else dd.append(display(value));
    }
    setupDelete(path, result.etag, resource);
    await Promise.all([loadRelations(path), loadRowEvents(resource, id)]);
  }

  // Every relation in one request (?include=), each link with its far-side row as the caller may read it.
  async function loadRelations(path) {
    const sections = $$(".relation");
    if (!sections.length) return;
    const names = sections.map((section) => section.dataset.relation).join(",");
    const result = await api("GET", `${path}?include=${encodeURIComponent(names)}`);
    for (const section of sections) {
      const list = $("ul", section);
      if (!result.ok) {
        list.replaceChildren(el("li", { class: "muted", text: problemText(result) }));
        continue;
      }
      const other = section.dataset.other;
      const farName = other.endsWith("_id") ? other.slice(0, -3) : other;
      const links = result.data.data[section.dataset.relation] || [];
      list.replaceChildren(
        ...(links.length
          ? links.map((link) => {
              const id = typeof link[other] === "object" && link[other] !== null ? link[other].id : link[other];
              const far = link[farName];
              const label = far && typeof far === "object" && far.name ? `${far.name} (${id})` : String(id);
              const extra = ["role", "status"]
                .filter((key) => link[key] !== undefined && link[key] !== null)
                .map((key) => `${key}: ${link[key]}`)
                .join(", ");
              return el("li", {}, el("a", { href: rowHref(section.dataset.target, id), text: label }), extra ? ` (${extra})` : "");
            })
          : [el("li", { class: "muted", text: "None." })])
      );
    }
  }

  async function loadRowEvents(resource, id) {
    const list = $("#row-events");
    if (!list) return;
    const query = new URLSearchParams({ resource, record_id: id, sort: "-id", limit: "20" });
    const result = await api("GET", `/api/events?${query}`);
    if (!result.ok) {
      list.replaceChildren(el("li", { class: "muted", text: problemText(result) }));
      return;
    }
    const events = result.data.data;
    list.replaceChildren(...(events.length ? events.map((e) => eventItem(e, false)) : [el("li", { class: "muted", text: "No events." })]));
  }

  function setupDelete(path, etag, resource) {
    const start = $("#delete-start");
    if (!start) return;
    const panel = $("#delete-confirm");
    const toggle = (open) => {
      panel.hidden = !open;
      start.setAttribute("aria-expanded", String(open));
      (open ? $("#delete-confirm-button") : start).focus();
    };
    start.addEventListener("click", () => toggle(panel.hidden));
    $("#delete-cancel").addEventListener("click", () => toggle(false));
    $("#delete-confirm-button").addEventListener("click", async () => {
      const result = await api("DELETE", path, { headers: etag ? { "If-Match": etag } : {} });
      if (result.status === 204) {
        window.location.assign(`/console/r/${resource}`);
        return;
      }
      const message =
        result.status === 412
          ? "This row was changed by someone else since you opened it; it was not deleted. Reload the page to see the changes."
          : problemText(result);
      showError($("#row-error"), message);
      toggle(false);
    });
  }

  // --- the create and edit forms --------------------------------------------------------------

  const pad = (n) => String(n).padStart(2, "0");

  function toLocalInput(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return "";
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  }

  function controlOf(field) {
    return $("input, select, textarea", field);
  }

  // What the control holds, as text: a field whose control still holds what the form was filled
  // with is unchanged (a date keeps its microseconds, JSON its formatting, by not being sent).
  function state(field) {
    const control = controlOf(field);
    return field.dataset.control === "checkbox" ? String(control.checked) : control.value;
  }

  function fill(field, value) {
    const control = controlOf(field);
    const kind = field.dataset.control;
    if (kind === "checkbox") control.checked = value === true;
    else if (kind === "json") control.value = value === null || value === undefined ? "" : JSON.stringify(value, null, 2);
    else if (kind === "datetime") control.value = value ? toLocalInput(value) : "";
    else control.value = value === null || value === undefined ? "" : String(value);
    field.dataset.initial = state(field);
    if (field.dataset.moves) offerMoves(field, control.value);
  }

  // A field with `transitions:` offers only the values it may move to from the stored one (the
  // others stay listed, disabled, so the whole lifecycle is visible), and says so beside it.
  function offerMoves(field, current) {
    const allowed = JSON.parse(field.dataset.moves)[current] || [];
    for (const option of $$("option", controlOf(field))) {
      option.disabled = option.value !== current && !allowed.includes(option.value);
    }
    const note = $(".moves", field);
    if (note) note.textContent = allowed.length ? `From ${current} it may move to ${allowed.join(", ")}.` : `${current} is final.`;
  }

  class BadInput extends Error {}

  // The value a field sends: undefined when empty (nothing to send), else a typed JSON value.
  function read(field) {
    const control = controlOf(field);
    const kind = field.dataset.control;
    if (kind === "checkbox") return control.checked;
    const text = control.value;
    if (text.trim() === "") return undefined;
    if (kind === "integer" || kind === "number") return Number(text);
    if (kind === "datetime") return new Date(text + "Z").toISOString();
    if (kind === "json") {
      try {
        return JSON.parse(text);
      } catch (error) {
        throw new BadInput(`Not valid JSON: ${error.message}`);
      }
    }
    return text;
  }

  function fieldError(field, message) {
    const node = $(".field-error", field);
    showError(node, message);
    const control = controlOf(field);
    if (message) control.setAttribute("aria-invalid", "true");
    else control.removeAttribute("aria-invalid");
  }

  async function setupForm() {
    const form = $("#row-form");
    const resource = body.dataset.resource;
    const pk = body.dataset.pk;
    const creating = form.dataset.creating === "true";
    const path = creating ? `/api/${resource}` : `/api/${resource}/${encodeURIComponent(body.dataset.rowId)}`;
    const status = $("#form-status");
    const formError = $("#form-error");
    const fields = $$(".field", form);
    let original = {};
    let etag = null;
    for (const field of fields.filter((f) => f.dataset.control === "json")) {
      controlOf(field).addEventListener("input", () => {
        try {
          read(field);
          fieldError(field, "");
        } catch (error) {
          fieldError(field, error.message);
        }
      });
    }
    if (!creating) {
      const result = await api("GET", path);
      if (!result.ok) {
        status.textContent = "";
        showError(formError, result.status === 404 ? "No such row, or you may not read it." : problemText(result));
        $("#save-button").disabled = true;
        return;
      }
      original = result.data.data;
      etag = result.etag;
      for (const field of fields) if (!field.dataset.writeOnly) fill(field, original[field.dataset.field]);
      status.textContent = "";
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      showError(formError, "");
      status.textContent = "";
      const changes = {};
      let invalid = null;
      for (const field of fields) {
        fieldError(field, "");
        if (field.dataset.readOnly) continue;
        const name = field.dataset.field;
        let value;
        try {
          value = read(field);
        } catch (error) {
          fieldError(field, error.message);
          invalid = invalid || field;
          continue;
        }
        if (creating || field.dataset.writeOnly) {
          if (value !== undefined) changes[name] = value;
        } else if (state(field) !== field.dataset.initial) {
          changes[name] = value === undefined ? null : value;
        }
      }
      if (invalid) {
        controlOf(invalid).focus();
        return;
      }
      if (!creating && Object.keys(changes).length === 0) {
        status.textContent = "Nothing changed.";
        return;
      }
      const headers = !creating && etag ? { "If-Match": etag } : {};
      const result = await api(creating ? "POST" : "PATCH", path, { json: changes, headers });
      if (result.ok) {
        window.location.assign(rowHref(resource, result.data.data[pk]));
        return;
      }
      if (result.status === 422 && Array.isArray(result.data.errors)) {
        showErrors(fields, result.data, formError);
        return;
      }
      const message =
        result.status === 412
          ? "This row was changed by someone else since you opened this form; your changes were not saved. Reload the page to see the new values, then edit again."
          : problemText(result);
      showError(formError, message);
      formError.focus();
    });
    $("#save-button").disabled = false; // served disabled: no plain HTML submit before this handler
  }

  function showErrors(fields, problem, formError) {
    const byName = new Map(fields.map((field) => [field.dataset.field, field]));
    const unplaced = [];
    let first = null;
    for (const error of problem.errors) {
      const name = String(error.path || "").split("/")[1] || "";
      const field = byName.get(name);
      if (field) {
        const node = $(".field-error", field);
        fieldError(field, (node.hidden ? "" : node.textContent + " ") + error.message);
        first = first || field;
      } else {
        unplaced.push(error.message);
      }
    }
    const count = problem.errors.length;
    showError(formError, `${count} value${count === 1 ? " needs" : "s need"} fixing.` + (unplaced.length ? " " + unplaced.join(" ") : ""));
    if (first) controlOf(first).focus();
    else formError.focus();
  }

  // --- the admin page -------------------------------------------------------------------------

  async function loadHealth() {
    for (const [id, path] of [["#health-live", "/healthz"], ["#health-ready", "/readyz"]]) {
      const result = await api("GET", path);
      const node = $(id);
      node.textContent = result.ok ? `${result.status}: ${JSON.stringify(result.data)}` : `${result.status}: ${problemText(result)}`;
      node.className = result.ok ? "ok" : "warn";
    }
  }

  const pages = {
    table() {
      setupFilterBuilder();
      if (body.dataset.events === "true") startLive(body.dataset.resource);
      return loadTable();
    },
    row() {
      if (body.dataset.events === "true") startLive(body.dataset.resource, body.dataset.rowId);
      return loadRow();
    },
    form: setupForm,
    admin: loadHealth,
  };
  const start = pages[body.dataset.page];
  // "console-ready": the page's data is drawn (a mark on the page's timeline, for devtools and the
  // browser tests' page timings, docs/console.md#speed).
  const ready = () => {
    performance.mark("console-ready");
    body.dataset.ready = "true";
  };
  if (start) start().catch((error) => console.error(error)).finally(ready);
  else ready();
})();
