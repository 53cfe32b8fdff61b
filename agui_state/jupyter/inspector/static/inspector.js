// agui-state StateInspector view (anywidget ES module).
//
// Python computes every view; this module only draws the synced traits and
// sends commands ({cmd: ...}) back. State values are untrusted: they are only
// ever put into the page with textContent / createTextNode (never innerHTML or
// insertAdjacentHTML), so a value like <img src=x onerror=alert(1)> is text.
// Nothing is loaded from the network.
//
// data-testid attributes (browser tests rely on these names):
//   inspector          root element
//   source-label       the source being inspected
//   live-badge         shown when the view follows a store live
//   refresh-button     re-read states, head and log
//   poll-input         polling interval in seconds (0 = off)
//   error-box          readable error message (empty when none)
//   message-box        info message (e.g. "restored snapshot as version 7")
//   confirm-box        pending restore/fork confirmation
//   confirm-button     confirms it;  cancel-button  cancels it
//   state-filter       states pane filter input (id substring)
//   state-item         one state in the states pane (data-state-id)
//   states-prev / states-next   page buttons of the states pane
//   log-path-filter    version log: path prefix filter input
//   log-run-filter     version log: run id filter input
//   hide-path-input    version log: add a noisy path to hide (Enter)
//   hidden-path        one hidden path chip (click to show again)
//   log-row            one version log line (data-version); shift+click diffs it to the selected one
//   log-newest / log-newer / log-selected / log-older   log page buttons
//   version-slider     time travel slider
//   step-first / step-back / step-forward / step-last   step buttons
//   version-label      "version N of HEAD"
//   fork-button        fork a new state from the selected version
//   tab-state / tab-diff / tab-patch / tab-snapshots / tab-stats   tabs
//   search-input       State tab search
//   search-count       number of search hits
//   search-hit         highlighted match inside a tree row
//   pinned-path        the pinned sub-path;  unpin-button
//   tree-row           one tree row (data-path); tree-toggle; tree-more
//   pin-button / copy-value / copy-pointer   per tree row actions
//   diff-from-input    Diff tab: compare from version N (empty = parent)
//   diff-parent-button Diff tab: back to "vs parent"
//   diff-row           one diff row (data-op, data-path); diff-old / diff-new cells
//   patch-row          one operation of the Patch tab;  patch-metadata
//   patch-hide         per operation: hide versions touching only its path in the log
//   snapshot-row       one snapshot (data-snapshot-id)
//   snapshot-inspect / snapshot-diff-head / snapshot-diff-selected   per row
//   restore-button     restore a snapshot (asks for confirmation)
//   snapshot-detail    the inspected snapshot;  snapshot-diff-row
//   stats-row          one figure of the Stats tab
//   plot-versions-time / plot-size   the two inline SVG plots

const SVG_NS = "http://www.w3.org/2000/svg";

function h(tag, props, ...children) {
  const node = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null) continue;
      if (key === "testid") node.setAttribute("data-testid", value);
      else if (key === "cls") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key.startsWith("data-") || key === "title" || key === "type" || key === "placeholder")
        node.setAttribute(key, String(value));
      else node[key] = value;
    }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

// Text with every case-insensitive occurrence of query wrapped in <mark>.
function highlighted(text, query) {
  const span = h("span");
  if (!query) {
    span.textContent = text;
    return span;
  }
  const lower = text.toLowerCase();
  const needle = query.toLowerCase();
  let at = 0;
  while (true) {
    const found = lower.indexOf(needle, at);
    if (found < 0) break;
    if (found > at) span.append(document.createTextNode(text.slice(at, found)));
    span.append(h("mark", { testid: "search-hit", text: text.slice(found, found + needle.length) }));
    at = found + needle.length;
  }
  if (at < text.length) span.append(document.createTextNode(text.slice(at)));
  return span;
}

function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

function plot(testid, points, xLabel, yLabel, xFormat) {
  const W = 360, H = 150, L = 48, B = 24, T = 8, R = 8;
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("data-testid", testid);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "agui-plot");
  const text = (x, y, s, anchor) => {
    const t = document.createElementNS(SVG_NS, "text");
    t.setAttribute("x", x);
    t.setAttribute("y", y);
    t.setAttribute("text-anchor", anchor || "start");
    t.textContent = s;
    svg.append(t);
  };
  if (!points || points.length === 0) {
    text(W / 2, H / 2, "no data", "middle");
    return svg;
  }
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs);
  const y0 = Math.min(0, ...ys), y1 = Math.max(...ys);
  const sx = (x) => L + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y) => H - B - (y1 === y0 ? 0.5 : (y - y0) / (y1 - y0)) * (H - B - T);
  const axis = document.createElementNS(SVG_NS, "path");
  axis.setAttribute("d", `M${L},${T} V${H - B} H${W - R}`);
  axis.setAttribute("class", "agui-axis");
  svg.append(axis);
  const line = document.createElementNS(SVG_NS, "polyline");
  line.setAttribute("points", points.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" "));
  line.setAttribute("class", "agui-line");
  svg.append(line);
  text(L - 4, T + 8, String(y1), "end");
  text(L - 4, H - B, String(y0), "end");
  text(L, H - 6, xFormat(x0));
  text(W - R, H - 6, xFormat(x1), "end");
  text(W / 2, H - 6, xLabel, "middle");
  text(4, T + 20, yLabel);
  return svg;
}

function fmtTime(ts) {
  return new Date(ts * 1000).toISOString().slice(5, 19).replace("T", " ");
}

function render({ model, el }) {
  const send = (cmd, args) => model.send({ cmd, ...(args || {}) });
  const set = (name, value) => {
    model.set(name, value);
    model.save_changes();
  };

  const root = h("div", { cls: "agui-inspector", testid: "inspector" });
  el.append(root);

  // ---------------------------------------------------------------- header
  const sourceLabel = h("span", { cls: "agui-source", testid: "source-label" });
  const liveBadge = h("span", { cls: "agui-live", testid: "live-badge", text: "live" });
  const pollInput = h("input", {
    testid: "poll-input", type: "number", min: 0, step: 1, title: "poll every N seconds (0 = off)",
    cls: "agui-poll",
    onchange: () => set("poll_seconds", Number(pollInput.value) || 0),
  });
  const header = h(
    "div", { cls: "agui-header" },
    h("strong", { text: "State inspector" }), sourceLabel, liveBadge,
    h("span", { cls: "agui-spacer" }),
    h("label", { text: "poll s " }, pollInput),
    h("button", { testid: "refresh-button", text: "↻ refresh", onclick: () => send("refresh") }),
  );
  const errorBox = h("div", { cls: "agui-error", testid: "error-box", role: "alert" });
  const messageBox = h("div", { cls: "agui-message", testid: "message-box" });
  const confirmBox = h("div", { cls: "agui-confirm", testid: "confirm-box" });
  root.append(header, errorBox, messageBox, confirmBox);

  // ------------------------------------------------------------ three panes
  const statesPane = h("div", { cls: "agui-pane agui-states" });
  const logPane = h("div", { cls: "agui-pane agui-log" });
  const mainPane = h("div", { cls: "agui-pane agui-main" });
  root.append(h("div", { cls: "agui-body" }, statesPane, logPane, mainPane));

  // states pane
  const stateFilter = h("input", {
    testid: "state-filter", placeholder: "filter states…", type: "search",
    oninput: debounce(() => set("state_filter", stateFilter.value), 250),
  });
  const statesList = h("ul", { cls: "agui-list" });
  const statesPrev = h("button", { testid: "states-prev", text: "‹", title: "previous page" });
  const statesNext = h("button", { testid: "states-next", text: "›", title: "next page" });
  statesPrev.onclick = () => send("states_page", { page: (model.get("states").page || 0) - 1 });
  statesNext.onclick = () => send("states_page", { page: (model.get("states").page || 0) + 1 });
  statesPane.append(
    h("div", { cls: "agui-title", text: "States" }), stateFilter, statesList,
    h("div", { cls: "agui-pager" }, statesPrev, statesNext),
  );

  // log pane
  const logPath = h("input", {
    testid: "log-path-filter", placeholder: "path prefix, e.g. /cart", type: "search",
    oninput: debounce(() => set("log_path", logPath.value), 250),
  });
  const logRun = h("input", {
    testid: "log-run-filter", placeholder: "run id", type: "search",
    oninput: debounce(() => set("log_run", logRun.value), 250),
  });
  const hideInput = h("input", {
    testid: "hide-path-input", placeholder: "hide noisy path + Enter", type: "text",
    onkeydown: (ev) => {
      if (ev.key === "Enter" && hideInput.value) {
        send("hide_path", { path: hideInput.value });
        hideInput.value = "";
      }
    },
  });
  const hiddenChips = h("div", { cls: "agui-chips" });
  const logList = h("ul", { cls: "agui-list agui-loglist" });
  const logInfo = h("div", { cls: "agui-muted" });
  logPane.append(
    h("div", { cls: "agui-title", text: "Versions (newest first)" }),
    logPath, logRun, hideInput, hiddenChips, logList, logInfo,
    h("div", { cls: "agui-pager" },
      h("button", { testid: "log-newest", text: "« newest", onclick: () => send("log_newest") }),
      h("button", { testid: "log-newer", text: "‹ newer", onclick: () => send("log_newer") }),
      h("button", { testid: "log-selected", text: "selected", title: "show the selected version", onclick: () => send("log_selected") }),
      h("button", { testid: "log-older", text: "older ›", onclick: () => send("log_older") })),
  );

  // main pane: time travel + tabs
  const slider = h("input", { testid: "version-slider", type: "range", min: 0, step: 1, cls: "agui-slider" });
  const versionLabel = h("span", { testid: "version-label", cls: "agui-version" });
  slider.addEventListener("input", () => {
    versionLabel.textContent = `version ${slider.value} of ${model.get("head")}`;
  });
  slider.addEventListener("change", () => set("version", Number(slider.value)));
  const step = (delta) => send("step", { delta });
  const travel = h(
    "div", { cls: "agui-travel" },
    h("button", { testid: "step-first", text: "|◀", title: "first", onclick: () => set("version", 0) }),
    h("button", { testid: "step-back", text: "◀", title: "previous version", onclick: () => step(-1) }),
    slider,
    h("button", { testid: "step-forward", text: "▶", title: "next version", onclick: () => step(1) }),
    h("button", { testid: "step-last", text: "▶|", title: "head", onclick: () => set("version", model.get("head")) }),
    versionLabel,
    h("button", { testid: "fork-button", text: "fork here", title: "new state from this version", onclick: () => send("fork") }),
  );
  const TABS = [["state", "State"], ["diff", "Diff"], ["patch", "Patch"], ["snapshots", "Snapshots"], ["stats", "Stats"]];
  const tabButtons = {};
  const tabBar = h("div", { cls: "agui-tabs", role: "tablist" });
  for (const [name, title] of TABS) {
    tabButtons[name] = h("button", { testid: `tab-${name}`, text: title, role: "tab", onclick: () => set("tab", name) });
    tabBar.append(tabButtons[name]);
  }
  const tabBody = h("div", { cls: "agui-tabbody" });
  // The State tab's search box lives outside the redrawn body so typing keeps focus.
  const searchInput = h("input", {
    testid: "search-input", type: "search", placeholder: "search keys and values…",
    oninput: debounce(() => set("search", searchInput.value), 300),
  });
  const searchCount = h("span", { testid: "search-count", cls: "agui-muted" });
  const pinnedBox = h("span", { cls: "agui-pinned" });
  const stateTools = h("div", { cls: "agui-tools" }, searchInput, searchCount, pinnedBox);
  const diffFrom = h("input", {
    testid: "diff-from-input", type: "number", min: 0, placeholder: "parent",
    onchange: () => set("diff_from", diffFrom.value === "" ? -1 : Number(diffFrom.value)),
  });
  const diffTools = h("div", { cls: "agui-tools" },
    h("label", { text: "compare from version " }, diffFrom),
    h("button", { testid: "diff-parent-button", text: "vs parent", onclick: () => { diffFrom.value = ""; set("diff_from", -1); } }));
  mainPane.append(travel, tabBar, stateTools, diffTools, tabBody);

  // ---------------------------------------------------------------- drawing
  function drawHeader() {
    sourceLabel.textContent = model.get("source_label");
    liveBadge.style.display = model.get("live") ? "" : "none";
    const err = model.get("error");
    errorBox.textContent = err;
    errorBox.style.display = err ? "" : "none";
    const msg = model.get("message");
    messageBox.textContent = msg;
    messageBox.style.display = msg ? "" : "none";
    if (document.activeElement !== pollInput) pollInput.value = String(model.get("poll_seconds") || 0);
  }

  function drawConfirm() {
    clear(confirmBox);
    const pending = model.get("confirm") || {};
    if (!pending.action) {
      confirmBox.style.display = "none";
      return;
    }
    confirmBox.style.display = "";
    confirmBox.append(
      h("span", { text: pending.message || "" }),
      h("button", { testid: "confirm-button", cls: "agui-danger", text: `Yes, ${pending.action}`, onclick: () => send("confirm") }),
      h("button", { testid: "cancel-button", text: "Cancel", onclick: () => send("cancel") }),
    );
  }

  function drawStates() {
    clear(statesList);
    const states = model.get("states") || {};
    const selected = model.get("state_id");
    for (const item of states.items || []) {
      const li = h(
        "li",
        {
          testid: "state-item", "data-state-id": item.state_id,
          cls: item.state_id === selected ? "agui-selected" : "",
          onclick: () => send("select_state", { state_id: item.state_id }),
        },
        h("span", { cls: "agui-id", text: item.state_id }),
        h("span", { cls: "agui-muted", text: ` v${item.head}${item.updated ? " · " + item.updated : ""}` }),
      );
      statesList.append(li);
    }
    if (!(states.items || []).length) statesList.append(h("li", { cls: "agui-muted", text: "no states" }));
    statesPrev.disabled = !states.page;
    statesNext.disabled = !states.has_more;
    if (document.activeElement !== stateFilter) stateFilter.value = model.get("state_filter");
  }

  function drawLog() {
    clear(logList);
    const log = model.get("log") || {};
    const version = model.get("version");
    for (const line of log.items || []) {
      logList.append(
        h(
          "li",
          {
            testid: "log-row", "data-version": line.number,
            cls: line.number === version ? "agui-selected" : "",
            title: "click: select · shift+click: diff from this version to the selected one",
            onclick: (ev) => {
              if (ev.shiftKey) {
                send("diff", { a: line.number, b: model.get("version") });
              } else {
                set("version", line.number);
              }
            },
          },
          h("span", { cls: "agui-num", text: `#${line.number}` }),
          h("span", { cls: "agui-muted", text: ` ${line.time}` }),
          line.run_id ? h("span", { cls: "agui-run", text: ` ${line.run_id}` }) : null,
          h("div", { cls: "agui-summary", text: line.summary }),
        ),
      );
    }
    if (!(log.items || []).length) logList.append(h("li", { cls: "agui-muted", text: "no versions match" }));
    logInfo.textContent = log.filtered ? `filtered · ${log.scanned} versions read` : "";
    clear(hiddenChips);
    for (const path of model.get("hidden_paths") || []) {
      hiddenChips.append(h("button", { testid: "hidden-path", cls: "agui-chip", text: `${path} ✕`, title: "show again", onclick: () => send("show_path", { path }) }));
    }
    if (document.activeElement !== logPath) logPath.value = model.get("log_path");
    if (document.activeElement !== logRun) logRun.value = model.get("log_run");
  }

  function drawTravel() {
    const head = model.get("head");
    const version = model.get("version");
    slider.max = String(head);
    slider.value = String(version);
    versionLabel.textContent = `version ${version} of ${head}`;
    const tab = model.get("tab");
    for (const [name] of TABS) tabButtons[name].classList.toggle("agui-active", name === tab);
    stateTools.style.display = tab === "state" ? "" : "none";
    diffTools.style.display = tab === "diff" ? "" : "none";
    const from = model.get("diff_from");
    if (document.activeElement !== diffFrom) diffFrom.value = from >= 0 ? String(from) : "";
  }

  function drawSearchInfo() {
    const info = model.get("search_info") || {};
    searchCount.textContent = info.query ? `${info.total} match${info.total === 1 ? "" : "es"}` : "";
    if (document.activeElement !== searchInput) searchInput.value = model.get("search");
  }

  function drawTree(view) {
    const query = model.get("search");
    clear(pinnedBox);
    if (view.pinned) {
      pinnedBox.append(
        h("span", { testid: "pinned-path", text: `📌 ${view.pinned}` }),
        h("button", { testid: "unpin-button", text: "unpin", onclick: () => send("pin", { path: "" }) }),
      );
    }
    if (view.missing) {
      tabBody.append(h("div", { cls: "agui-muted", text: `${view.pinned} does not exist at this version` }));
      return;
    }
    const table = h("div", { cls: "agui-tree" });
    for (const row of view.rows || []) {
      const indent = { style: `padding-left:${row.depth * 14}px` };
      if (row.kind === "more") {
        table.append(h("div", { cls: "agui-row", testid: "tree-more", ...indent },
          h("button", { cls: "agui-link", text: row.value, onclick: () => send("more", { path: row.path }) })));
        continue;
      }
      const container = row.kind === "object" || row.kind === "array";
      const line = h("div", { cls: `agui-row${row.match ? " agui-match" : ""}`, testid: "tree-row", "data-path": row.path });
      line.style.paddingLeft = `${row.depth * 14}px`;
      line.append(
        container
          ? h("button", { cls: "agui-toggle", testid: "tree-toggle", text: row.expanded ? "▾" : "▸", onclick: () => send("toggle", { path: row.path }) })
          : h("span", { cls: "agui-toggle" }),
        h("span", { cls: "agui-key" }, highlighted(row.key, query)),
        h("span", { cls: "agui-colon", text: ": " }),
        h("span", { cls: `agui-val agui-${row.kind}` }, container ? document.createTextNode(row.value) : highlighted(row.value, query)),
        h("span", { cls: "agui-actions" },
          h("button", { testid: "pin-button", text: "pin", title: "pin this sub-path", onclick: () => send("pin", { path: row.path }) }),
          h("button", { testid: "copy-value", text: "copy", title: "copy value as JSON", onclick: () => send("copy", { path: row.path, what: "value" }) }),
          h("button", { testid: "copy-pointer", text: "ptr", title: "copy JSON Pointer", onclick: () => send("copy", { path: row.path, what: "pointer" }) })),
      );
      table.append(line);
    }
    if (view.cut) table.append(h("div", { cls: "agui-muted", text: "… more rows: collapse nodes or pin a sub-path" }));
    tabBody.append(table);
  }

  function diffTable(rows, testid) {
    const table = h("table", { cls: "agui-diff" },
      h("tr", {}, h("th", { text: "op" }), h("th", { text: "path" }), h("th", { text: "old" }), h("th", { text: "new" })));
    for (const row of rows || []) {
      table.append(h("tr", { testid, "data-op": row.op, "data-path": row.path, cls: `agui-op-${row.op}` },
        h("td", { text: row.op }),
        h("td", { cls: "agui-path", text: row.label }),
        h("td", { testid: "diff-old", cls: "agui-old", text: row.old === null ? "" : row.old }),
        h("td", { testid: "diff-new", cls: "agui-new", text: row.new === null ? "" : row.new })));
    }
    return table;
  }

  function drawDiff(view) {
    const title = view.from === null || view.from === undefined
      ? "version 0: nothing before it"
      : `version ${view.from} → ${view.to}`;
    tabBody.append(h("div", { cls: "agui-muted", text: `${title} · ${(view.rows || []).length} change(s)` }));
    tabBody.append(diffTable(view.rows, "diff-row"));
    if (view.cut) tabBody.append(h("div", { cls: "agui-muted", text: "… more changes not shown" }));
  }

  function drawPatch(view) {
    if (!view.number) {
      tabBody.append(h("div", { cls: "agui-muted", text: "version 0 has no operations" }));
      return;
    }
    tabBody.append(h("div", { cls: "agui-muted", text: `version ${view.number} · ${view.time} · id ${view.id}${view.run_id ? " · run " + view.run_id : ""}` }));
    const table = h("table", { cls: "agui-diff" },
      h("tr", {}, h("th", { text: "op" }), h("th", { text: "path" }), h("th", { text: "from" }), h("th", { text: "value" })));
    for (const op of view.ops || []) {
      table.append(h("tr", { testid: "patch-row" },
        h("td", { text: op.op }),
        h("td", { cls: "agui-path" }, op.path,
          h("button", { testid: "patch-hide", cls: "agui-link", text: "hide in log", title: "hide versions touching only this path", onclick: () => send("hide_path", { path: op.path }) })),
        h("td", { cls: "agui-path", text: op.from }), h("td", { text: op.value })));
    }
    tabBody.append(table);
    if (view.more_ops) tabBody.append(h("div", { cls: "agui-muted", text: `… ${view.more_ops} more operations` }));
    tabBody.append(h("div", { cls: "agui-title", text: "metadata" }), h("pre", { testid: "patch-metadata", text: view.metadata }));
  }

  function drawSnapshots(view) {
    const table = h("table", { cls: "agui-diff" },
      h("tr", {}, h("th", { text: "label" }), h("th", { text: "version" }), h("th", { text: "time" }), h("th", { text: "" })));
    for (const snap of view.items || []) {
      table.append(h("tr", { testid: "snapshot-row", "data-snapshot-id": snap.id },
        h("td", { text: snap.label || "(no label)" }), h("td", { text: String(snap.version) }), h("td", { text: snap.time }),
        h("td", {},
          h("button", { testid: "snapshot-inspect", text: "inspect", onclick: () => send("snapshot", { snapshot_id: snap.id, against: "head" }) }),
          h("button", { testid: "snapshot-diff-head", text: "diff vs head", onclick: () => send("snapshot", { snapshot_id: snap.id, against: "head" }) }),
          h("button", { testid: "snapshot-diff-selected", text: "diff vs selected", onclick: () => send("snapshot", { snapshot_id: snap.id, against: "selected" }) }),
          h("button", { testid: "restore-button", cls: "agui-danger", text: "restore…", onclick: () => send("restore", { snapshot_id: snap.id }) }))));
    }
    if (!(view.items || []).length) table.append(h("tr", {}, h("td", { cls: "agui-muted", text: "no snapshots" })));
    tabBody.append(table);
    const sel = view.selected;
    if (sel) {
      const detail = h("div", { testid: "snapshot-detail", cls: "agui-detail" },
        h("div", { cls: "agui-title", text: `snapshot ${sel.label || sel.id} (version ${sel.version}) vs ${sel.against} (version ${sel.against_version}): ${sel.diff.length} change(s)` }),
        h("pre", { text: sel.state }));
      detail.append(diffTable(sel.diff, "snapshot-diff-row"));
      tabBody.append(detail);
    }
  }

  function drawStats(view) {
    tabBody.append(h("div", { cls: "agui-plots" },
      h("figure", {}, plot("plot-versions-time", view.versions_over_time, "time", "version", fmtTime), h("figcaption", { text: "versions over time" })),
      h("figure", {}, plot("plot-size", view.size_over_versions, "version", "bytes", String), h("figcaption", { text: "document size over versions" }))));
    const table = h("table", { cls: "agui-diff" });
    for (const [key, value] of view.rows || []) {
      table.append(h("tr", { testid: "stats-row" }, h("td", { text: key }), h("td", { text: value })));
    }
    tabBody.append(table);
  }

  function drawView() {
    clear(tabBody);
    const view = model.get("view") || {};
    const tab = view.tab || model.get("tab");
    if (tab === "diff") drawDiff(view);
    else if (tab === "patch") drawPatch(view);
    else if (tab === "snapshots") drawSnapshots(view);
    else if (tab === "stats") drawStats(view);
    else drawTree(view);
  }

  const handlers = [
    ["source_label live error message poll_seconds", drawHeader],
    ["confirm", drawConfirm],
    ["states state_id state_filter", drawStates],
    ["log version hidden_paths log_path log_run", drawLog],
    ["head version tab diff_from", drawTravel],
    ["search_info search", drawSearchInfo],
    ["view", drawView],
  ];
  const subscriptions = [];
  for (const [names, fn] of handlers) {
    for (const name of names.split(" ")) {
      const cb = () => fn();
      model.on(`change:${name}`, cb);
      subscriptions.push([`change:${name}`, cb]);
    }
    fn();
  }
  const onMessage = (msg) => {
    if (msg && msg.type === "copy" && navigator.clipboard) {
      navigator.clipboard.writeText(msg.text).catch(() => {});
    }
  };
  model.on("msg:custom", onMessage);
  return () => {
    for (const [event, cb] of subscriptions) model.off(event, cb);
    model.off("msg:custom", onMessage);
  };
}

export default { render };
