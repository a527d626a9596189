"""The style sheet and the script of ``report.html`` (written for this package; no library, nothing fetched).

The script reads the page's JSON (``<script type="application/json" id="report-data">``, built by
:mod:`keras_bert_zoo.viz.run_data`) and draws every section with DOM and SVG calls (text always through
``textContent``: the data holds users' texts). The attention explorer's head view is an SVG heat map whose cells
carry ``data-q``, ``data-k`` and ``data-w`` (the weight, 4 decimals), so a test can read the drawn values back.
"""

CSS = r"""
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC",sans-serif;margin:0;
 color:#1b1f24;background:#fafbfc}
header{background:#24323f;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c9d3dc;font-size:13px}
nav{padding:6px 24px;background:#e9eef2;font-size:14px}nav a{margin-right:14px;color:#1d4f80}
section{padding:10px 24px 18px;border-bottom:1px solid #dde3e8}h2{font-size:18px;margin:12px 0}
h3{font-size:15px;margin:14px 0 6px}table{border-collapse:collapse;font-size:13px;margin:4px 0 10px}
td,th{border:1px solid #d0d7de;padding:3px 7px;text-align:right}th{background:#f0f3f6}
td.t,th.t{text-align:left;max-width:560px}.cm td{min-width:46px;text-align:center}
.charts{display:flex;flex-wrap:wrap;gap:10px}.chart{background:#fff;border:1px solid #d0d7de}
.chart text{font-size:11px;fill:#444}.tip{font-size:12px;fill:#000;font-weight:600}
.muted{color:#667;font-size:13px}mark{padding:0 2px;border-radius:3px}.sent{margin:6px 0 12px;font-size:14px}
.sent div{margin:2px 0}.sent b{display:inline-block;width:78px;color:#555;font-weight:500}
.controls label{margin-right:14px;font-size:14px}.att{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
#head-view text{font-size:12px}#model-view{display:grid;gap:3px}
#model-view canvas{border:1px solid #ccd;cursor:pointer;image-rendering:pixelated}
#model-view canvas.sel{outline:2px solid #d1242f}
.tokens span{display:inline-block;margin:1px;padding:1px 3px;border:1px solid #d0d7de;border-radius:3px;
 font-size:14px}
"""

JS = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("report-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function sv(tag, attrs, text) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  function fmt(v) {
    if (typeof v !== "number") return v === null || v === undefined ? "" : String(v);
    if (Number.isInteger(v)) return String(v);
    return Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(2) : v.toFixed(4);
  }
  function table(head, rows, leftCols) {
    var t = el("table"), tr = el("tr");
    leftCols = leftCols || 1;
    head.forEach(function (h, i) { tr.appendChild(el("th", h, i < leftCols ? "t" : "")); });
    t.appendChild(tr);
    rows.forEach(function (r) {
      var row = el("tr");
      r.forEach(function (c, i) { row.appendChild(el("td", fmt(c), i < leftCols ? "t" : "")); });
      t.appendChild(row);
    });
    return t;
  }
  function section(id, title) {
    var s = el("section"); s.id = id; s.appendChild(el("h2", title));
    document.getElementById("main").appendChild(s);
    return s;
  }

  // ---------------------------------------------------------------- metrics beside baselines
  function metrics() {
    var s = section("metrics", "Metrics and baselines");
    if (!D.tables.length) { s.appendChild(el("p", "No metrics in this run directory.", "muted")); return; }
    D.tables.forEach(function (tb) {
      var names = Object.keys(tb.rows), cols = [];
      names.forEach(function (n) { Object.keys(tb.rows[n]).forEach(function (k) {
        if (cols.indexOf(k) < 0) cols.push(k); }); });
      s.appendChild(el("h3", tb.title));
      s.appendChild(table([""].concat(cols), names.map(function (n) {
        return [n].concat(cols.map(function (c) { return tb.rows[n][c]; })); })));
    });
  }

  // ---------------------------------------------------------------- training curves
  function chart(name, panel, xlabel) {
    var W = 380, H = 230, L = 52, R = 12, T = 22, B = 36;
    var pts = panel.train.concat(panel.val), xs = pts.map(function (p) { return p[0]; });
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
    if (x0 === x1) { x0 = Math.max(0, x0 - 1); x1 = x1 + 1; }
    if (xlabel === "step") x0 = 0;
    var y0 = panel.range[0], y1 = panel.range[1];
    function X(v) { return L + (v - x0) / (x1 - x0) * (W - L - R); }
    function Y(v) { return T + (1 - (v - y0) / (y1 - y0)) * (H - T - B); }
    var g = sv("svg", {width: W, height: H, "class": "chart", "data-metric": name});
    g.appendChild(sv("text", {x: L, y: 14}, name));
    for (var i = 0; i <= 4; i++) {
      var yv = y0 + (y1 - y0) * i / 4;
      g.appendChild(sv("line", {x1: L, x2: W - R, y1: Y(yv), y2: Y(yv), stroke: "#eee"}));
      g.appendChild(sv("text", {x: L - 4, y: Y(yv) + 4, "text-anchor": "end"}, fmt(+yv.toPrecision(3))));
    }
    var nx = Math.max(1, Math.min(4, Math.round(x1 - x0)));       // whole steps / epochs: no repeated tick labels
    for (var j = 0; j <= nx; j++) {
      var xv = Math.round(x0 + (x1 - x0) * j / nx);
      g.appendChild(sv("text", {x: X(xv), y: H - B + 14, "text-anchor": "middle"}, xv));
    }
    g.appendChild(sv("text", {x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle"}, xlabel));
    var colors = {train: "#1f77b4", val: "#d62728"};
    ["train", "val"].forEach(function (kind) {
      var p = panel[kind];
      if (!p.length) return;
      if (p.length > 1) g.appendChild(sv("polyline", {fill: "none", stroke: colors[kind], "stroke-width": 1.6,
        "stroke-dasharray": kind === "val" ? "5,3" : "none",
        points: p.map(function (q) { return X(q[0]) + "," + Y(q[1]); }).join(" ")}));
      if (kind === "val" || p.length === 1) p.forEach(function (q) {
        g.appendChild(sv("circle", {cx: X(q[0]), cy: Y(q[1]), r: 3.5, fill: colors[kind]})); });
      g.appendChild(sv("text", {x: W - R - (kind === "val" ? 34 : 80), y: 14, fill: colors[kind]}, kind));
    });
    var dot = sv("circle", {r: 4.5, fill: "none", stroke: "#000", visibility: "hidden"});
    var tip = sv("text", {x: L + 6, y: T + 12, "class": "tip"}, "");
    var hit = sv("rect", {x: L, y: T, width: W - L - R, height: H - T - B, fill: "transparent"});
    g.appendChild(dot); g.appendChild(tip); g.appendChild(hit);
    hit.addEventListener("mousemove", function (ev) {
      var box = g.getBoundingClientRect(), mx = ev.clientX - box.left, best = null, bd = 1e9;
      ["train", "val"].forEach(function (kind) { panel[kind].forEach(function (q) {
        var d = Math.abs(X(q[0]) - mx); if (d < bd) { bd = d; best = [kind, q]; } }); });
      if (!best) return;
      dot.setAttribute("cx", X(best[1][0])); dot.setAttribute("cy", Y(best[1][1]));
      dot.setAttribute("visibility", "visible");
      tip.textContent = best[0] + " " + name + " at " + xlabel + " " + best[1][0] + ": " + fmt(best[1][1]);
    });
    hit.addEventListener("mouseleave", function () { dot.setAttribute("visibility", "hidden"); tip.textContent = ""; });
    return g;
  }
  function curves() {
    var s = section("curves", "Training curves");
    if (!D.curves.length) { s.appendChild(el("p", "No training log (history.jsonl / steps.jsonl) here.", "muted"));
                            return; }
    s.appendChild(el("p", "Training values by optimizer step (Keras batch logs: running means over the epoch so " +
                     "far); validation at the end of each epoch. Hover for values.", "muted"));
    D.curves.forEach(function (c) {
      s.appendChild(el("h3", c.name === "." ? "this run" : c.name));
      var box = el("div", null, "charts");
      Object.keys(c.panels).sort(function (a, b) {
        return (a === "learning_rate") - (b === "learning_rate") || (a < b ? -1 : a > b ? 1 : 0); })
        .forEach(function (n) { box.appendChild(chart(n, c.panels[n], c.x)); });
      s.appendChild(box);
    });
  }

  // ---------------------------------------------------------------- evaluations
  function confusion(ev) {
    var t = el("table", null, "cm"), labels = ev.labels, tr = el("tr");
    tr.appendChild(el("th", "true \\ predicted", "t"));
    labels.forEach(function (l) { tr.appendChild(el("th", l)); });
    t.appendChild(tr);
    ev.confusion.forEach(function (row, i) {
      var total = row.reduce(function (a, b) { return a + b; }, 0), r = el("tr");
      r.appendChild(el("th", labels[i], "t"));
      row.forEach(function (c) {
        var f = total ? c / total : 0, td = el("td", c);
        td.style.background = "rgba(33,102,172," + f.toFixed(3) + ")";
        td.style.color = f > 0.5 ? "#fff" : "#000";
        td.title = (100 * f).toFixed(1) + "% of true " + labels[i];
        r.appendChild(td);
      });
      t.appendChild(r);
    });
    return t;
  }
  function hue(s) { var h = 0; for (var i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) % 360; return h; }
  function spanLine(label, words, joiner, spans) {
    var d = el("div"), i = 0;
    d.appendChild(el("b", label));
    spans = spans.slice().sort(function (a, b) { return a.start - b.start; });
    spans.forEach(function (sp) {
      if (sp.start > i) d.appendChild(document.createTextNode(words.slice(i, sp.start).join(joiner) + joiner));
      var m = el("mark", words.slice(sp.start, sp.end).join(joiner));
      m.title = sp.type; m.setAttribute("data-type", sp.type);
      m.style.background = "hsl(" + hue(sp.type) + ",75%,82%)";
      d.appendChild(m);
      d.appendChild(el("sub", sp.type));
      d.appendChild(document.createTextNode(joiner));
      i = sp.end;
    });
    if (i < words.length) d.appendChild(document.createTextNode(words.slice(i).join(joiner)));
    return d;
  }
  function evaluation(s, ev) {
    s.appendChild(el("h3", ev.name + " (" + ev.kind + ")"));
    var keys = Object.keys(ev.metrics);
    s.appendChild(table(["metric", "value"], keys.map(function (k) { return [k, ev.metrics[k]]; })));
    if (ev.confusion) { s.appendChild(el("p", "Confusion matrix (rows: true class; shade: share of the row)",
                                         "muted")); s.appendChild(confusion(ev)); }
    if (ev.per_class) s.appendChild(table(["class", "precision", "recall", "f1", "support"],
      Object.keys(ev.per_class).map(function (c) { var m = ev.per_class[c];
        return [c, m.precision, m.recall, m.f1, m.support]; })));
    if (ev.worst && ev.kind === "classify") {
      s.appendChild(el("p", "The most confidently wrong examples (" + ev.worst.length + " of " + ev.num_wrong +
                       " errors)", "muted"));
      s.appendChild(table(["line", "text", "gold", "predicted", "probability"], ev.worst.map(function (e) {
        return [e.line, e.pair ? e.text + "  ||  " + e.pair : e.text, e.gold, e.predicted, e.probability]; }), 2));
    }
    if (ev.worst && ev.kind === "regress") {
      s.appendChild(el("p", "The largest errors", "muted"));
      s.appendChild(table(["line", "text", "gold", "predicted"], ev.worst.map(function (e) {
        return [e.line, e.text, e.gold, e.predicted]; }), 2));
    }
    if (ev.entities) s.appendChild(table(["type", "precision", "recall", "f1", "support"],
      ev.entities.map(function (r) { return [r.type, +r.precision, +r.recall, +r.f1, +r.support]; })));
    (ev.examples || []).forEach(function (x) {
      var d = el("div", null, "sent");
      d.appendChild(spanLine("gold", x.words, x.joiner, x.gold));
      d.appendChild(spanLine("predicted", x.words, x.joiner, x.predicted));
      s.appendChild(d);
    });
  }
  function evaluations() {
    var s = section("evaluation", "Evaluation");
    if (!D.evaluations.length) s.appendChild(el("p", "No evaluation report in this run directory.", "muted"));
    D.evaluations.forEach(function (ev) { evaluation(s, ev); });
  }

  // ---------------------------------------------------------------- attention explorer
  function decode(ex) {
    var raw = atob(ex.weights), a = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) a[i] = raw.charCodeAt(i);
    return a;
  }
  function options(sel, n, prefix) {
    sel.textContent = "";
    for (var i = 0; i < n; i++) { var o = el("option", prefix + " " + (i + 1)); o.value = String(i);
                                  sel.appendChild(o); }
  }
  function attention() {
    var s = section("attention", "Attention explorer");
    var A = D.attention;
    if (!A || !A.examples.length) { s.appendChild(el("p", "No attention.json in this run directory.", "muted"));
                                    return; }
    s.appendChild(el("p", "Head view: the weights one head gives from each query token (row) to each key token " +
      "(column), shaded relative to the head's largest weight (hover for the value). Model view: every layer " +
      "(row) and head (column); click one to open it. Weights stored to 1/" +
      A.examples[0].scale + ".", "muted"));
    var ctl = el("div", null, "controls"), exSel = el("select"), laySel = el("select"), headSel = el("select");
    exSel.id = "att-example"; laySel.id = "att-layer"; headSel.id = "att-head";
    A.examples.forEach(function (ex, i) { var o = el("option", (i + 1) + ": " + ex.text.slice(0, 60));
                                          o.value = String(i); exSel.appendChild(o); });
    [["example", exSel], ["layer", laySel], ["head", headSel]].forEach(function (p) {
      var l = el("label", p[0] + " "); l.appendChild(p[1]); ctl.appendChild(l); });
    s.appendChild(ctl);
    var note = el("p", "", "muted"), toks = el("div", null, "tokens"), box = el("div", null, "att");
    note.id = "att-note"; toks.id = "att-tokens";
    var head = el("div"), model = el("div"); head.id = "head-view"; model.id = "model-view";
    box.appendChild(head); box.appendChild(model);
    s.appendChild(note); s.appendChild(toks); s.appendChild(box);
    var cur = {ex: null, w: null};
    function weight(l, h, q, k) { var ex = cur.ex, T = ex.tokens.length;
      return cur.w[((l * ex.heads + h) * T + q) * T + k] / ex.scale; }
    function peak(l, h) { var T = cur.ex.tokens.length, m = 0;
      for (var q = 0; q < T; q++) for (var k = 0; k < T; k++) m = Math.max(m, weight(l, h, q, k));
      return m || 1; }
    function drawHead() {
      var ex = cur.ex, T = ex.tokens.length, l = +laySel.value, h = +headSel.value, pad = 90;
      var c = Math.max(12, Math.min(26, Math.floor(520 / T))), top = peak(l, h);
      head.textContent = "";
      var g = sv("svg", {width: pad + T * c + 10, height: pad + T * c + 24, "data-layer": l, "data-head": h});
      g.appendChild(sv("text", {x: 0, y: 12}, "layer " + (l + 1) + ", head " + (h + 1) + " (max " + top.toFixed(3) +
                                              ")"));
      var tip = sv("text", {x: 0, y: pad + T * c + 18, "class": "tip"}, "");
      ex.tokens.forEach(function (t, i) {
        g.appendChild(sv("text", {x: pad - 4, y: pad + i * c + 12, "text-anchor": "end", "class": "qtok"}, t));
        g.appendChild(sv("text", {x: 0, y: 0, "class": "ktok", transform: "translate(" + (pad + i * c + 12) +
                                  "," + (pad - 4) + ") rotate(-60)"}, t));
      });
      for (var q = 0; q < T; q++) for (var k = 0; k < T; k++) {
        var w = weight(l, h, q, k);
        var r = sv("rect", {x: pad + k * c, y: pad + q * c, width: c - 1, height: c - 1, "class": "cell",
                            fill: "rgba(40,80,200," + (w / top).toFixed(3) + ")", "data-q": q, "data-k": k,
                            "data-w": w.toFixed(4)});
        r.addEventListener("mouseenter", (function (q, k, w) { return function () {
          tip.textContent = ex.tokens[q] + " \u2192 " + ex.tokens[k] + ": " + w.toFixed(3); }; })(q, k, w));
        g.appendChild(r);
      }
      g.appendChild(tip);
      head.appendChild(g);
      Array.prototype.forEach.call(model.querySelectorAll("canvas"), function (cv) {
        cv.className = (+cv.getAttribute("data-layer") === l && +cv.getAttribute("data-head") === h) ? "sel" : ""; });
    }
    function drawModel() {
      var ex = cur.ex, T = ex.tokens.length, px = Math.max(1, Math.floor(48 / T));
      model.textContent = "";
      model.style.gridTemplateColumns = "repeat(" + ex.heads + ", auto)";
      for (var l = 0; l < ex.layers; l++) for (var h = 0; h < ex.heads; h++) {
        var cv = document.createElement("canvas");
        cv.width = T * px; cv.height = T * px; cv.title = "layer " + (l + 1) + ", head " + (h + 1);
        cv.setAttribute("data-layer", l); cv.setAttribute("data-head", h);
        var cx = cv.getContext("2d"), top = peak(l, h);
        for (var q = 0; q < T; q++) for (var k = 0; k < T; k++) {
          cx.fillStyle = "rgba(40,80,200," + (weight(l, h, q, k) / top).toFixed(3) + ")";
          cx.fillRect(k * px, q * px, px, px);
        }
        cv.addEventListener("click", (function (l, h) { return function () {
          laySel.value = String(l); headSel.value = String(h); drawHead(); }; })(l, h));
        model.appendChild(cv);
      }
    }
    function pick() {
      var ex = A.examples[+exSel.value];
      cur.ex = ex; cur.w = decode(ex);
      var l = Math.min(+laySel.value || 0, ex.layers - 1), h = Math.min(+headSel.value || 0, ex.heads - 1);
      options(laySel, ex.layers, "layer"); options(headSel, ex.heads, "head");
      laySel.value = String(l); headSel.value = String(h);
      note.textContent = ex.text + (ex.pair ? "  ||  " + ex.pair : "") + (ex.note ? "  \u2014  " + ex.note : "");
      toks.textContent = "";
      ex.tokens.forEach(function (t) { toks.appendChild(el("span", t)); });
      drawModel(); drawHead();
    }
    exSel.addEventListener("change", pick);
    laySel.addEventListener("change", drawHead);
    headSel.addEventListener("change", drawHead);
    pick();
  }

  metrics(); curves(); evaluations(); attention();
  document.body.setAttribute("data-rendered", "1");
})();
"""
