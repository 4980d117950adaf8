// klptest's HTML report: draws each case's per-task timeline from the data
// in #klptest-data on canvases. Tasks run down, time across; colour is the
// patch state. It sets data-drawn (segments drawn) and data-ms (time to
// draw) on <body> once done, which the report's browser test reads.
"use strict";
(function () {
  var t0 = performance.now();
  var D = JSON.parse(document.getElementById("klptest-data").textContent);
  var COLORS = ["#d0d7de", "#4a90d9", "#9ec5f0", "#2da44e", "#a8e0b4", "#bf8700"];
  var NAMES = ["no transition (-1)", "unpatched (0)", "unpatched, pending", "patched (1)", "patched, pending", "state from /proc, flag unknown"];
  var MARK = { enable: "#8250df", disable: "#8250df", reverse: "#cf222e", complete: "#1a7f37", timeout: "#cf222e",
    force: "#bc4c00", signal: "#bc4c00", stall: "#6e7781", forensics: "#cf222e" };
  var LABEL_W = 170, AGG_H = 48, AXIS_H = 16;
  var drawn = 0;

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  document.title = D.title;
  document.getElementById("title").textContent = D.title;
  document.getElementById("labels").textContent = (D.labels || []).map(function (l) { return l[0] + " " + l[1]; }).join(" · ");
  var legend = document.getElementById("legend");
  COLORS.forEach(function (c, i) {
    var s = el("span"); var sw = el("i"); sw.style.background = c; s.appendChild(sw);
    s.appendChild(document.createTextNode(NAMES[i])); legend.appendChild(s);
  });
  if (D.skip) document.getElementById("cases").appendChild(el("p", { "class": "FAIL" }, "could not test: " + D.skip));
  var tip = document.getElementById("tip");

  D.cases.forEach(function (c, ci) {
    var root = document.getElementById("cases");
    var h = el("h2", { id: "case-" + ci }); h.appendChild(document.createTextNode(c.name + " "));
    if (c.verdict) h.appendChild(el("span", { "class": c.verdict }, c.verdict));
    root.appendChild(h);

    // Rows: group headers, then the group's tasks.
    var rows = [], byPid = {}, byName = {};
    c.groups.forEach(function (g) {
      if (!g.tasks.length) return;
      rows.push({ header: g.name + " (" + g.tasks.length + ")" });
      g.tasks.forEach(function (t) { byPid[t.pid] = byPid[t.pid] === undefined ? rows.length : byPid[t.pid]; byName[t.name] = rows.length; rows.push({ task: t }); });
    });
    var n = rows.length;
    var rh = n > 8000 ? 1 : n > 1500 ? 2 : n > 300 ? 4 : 12;
    var wrap = el("div", { "class": "tl" });
    var cv = el("canvas");
    wrap.appendChild(cv); root.appendChild(wrap);
    // A kernel selftest the probe did not watch has no timeline to show.
    var bare = c.output !== undefined && n === 0;
    if (bare) wrap.style.display = "none";
    var W = Math.max(600, (root.clientWidth || 1200) - 4);
    // Group headers keep a readable height; task rows shrink with their
    // number.
    var HEAD_H = 14, tops = [], off = AXIS_H + AGG_H + 6;
    rows.forEach(function (r) { tops.push(off); off += r.header ? HEAD_H : rh; });
    var H = off + 4;
    cv.width = W; cv.height = H;
    var span = Math.max(1, (c.t1 - c.t0) / 1000);
    var plotW = W - LABEL_W - 8;
    function x(t) { return LABEL_W + Math.max(0, Math.min(plotW, t / span * plotW)); }
    function y(i) { return tops[i]; }
    function rowAt(py) {
      var lo = 0, hi = n - 1;
      while (lo < hi) { var mid = (lo + hi + 1) >> 1; if (tops[mid] <= py) lo = mid; else hi = mid - 1; }
      return lo;
    }
    var g = cv.getContext("2d");
    g.font = "11px sans-serif"; g.textBaseline = "top";

    function draw(hiRow, hiT) {
      g.clearRect(0, 0, W, H);
      // Axis: seconds from the case's first moment.
      g.fillStyle = "#555";
      var secs = span / 1e6, step = secs > 60 ? 10 : secs > 20 ? 5 : secs > 5 ? 1 : 0.5;
      for (var s = 0; s <= secs; s += step) {
        var xx = x(s * 1e6); g.fillRect(xx, AXIS_H - 4, 1, 4); g.fillText(s.toFixed(step < 1 ? 1 : 0) + "s", xx + 2, 0);
      }
      // Aggregate: tasks per state over time, stacked.
      g.fillStyle = "#333"; g.fillText("all tasks", 4, AXIS_H + 2);
      var nb = c.agg[0].length, bw = plotW / nb, maxTot = 1;
      for (var b = 0; b < nb; b++) { var tot = 0; for (var k = 0; k < c.agg.length; k++) tot += c.agg[k][b]; maxTot = Math.max(maxTot, tot); }
      for (b = 0; b < nb; b++) {
        var yy = AXIS_H + AGG_H;
        for (k = 0; k < c.agg.length; k++) {
          var hh = c.agg[k][b] / maxTot * (AGG_H - 2);
          if (hh > 0) { g.fillStyle = COLORS[k]; g.fillRect(LABEL_W + b * bw, yy - hh, Math.ceil(bw), hh); yy -= hh; }
        }
      }
      // Rows.
      var segs = 0;
      rows.forEach(function (r, i) {
        var top = y(i);
        if (r.header) {
          g.fillStyle = "#eaeef2"; g.fillRect(0, top, W, HEAD_H);
          g.fillStyle = "#333"; g.fillText(r.header, 4, top + 1);
          return;
        }
        var t = r.task, sg = t.segs;
        for (var j = 0; j < sg.length; j += 2) {
          var a = sg[j], e = j + 2 < sg.length ? sg[j + 2] : t.end;
          g.fillStyle = COLORS[sg[j + 1]];
          g.fillRect(x(a), top, Math.max(1, x(e) - x(a)), rh - (rh > 3 ? 1 : 0));
          segs++;
        }
        if (rh >= 10) { g.fillStyle = "#333"; g.fillText(t.name.slice(0, 26), 4, top); }
      });
      // Forks: parent row to child row.
      g.strokeStyle = "rgba(130,80,223," + (c.forks.length > 200 ? 0.12 : 0.4) + ")"; g.beginPath();
      c.forks.forEach(function (f) {
        var p = byPid[f[1]], ch = byPid[f[2]];
        if (p === undefined || ch === undefined) return;
        g.moveTo(x(f[0]), y(p) + rh / 2); g.lineTo(x(f[0]), y(ch) + rh / 2);
      });
      g.stroke();
      // Marks: ops, the fake signal, forensics.
      c.marks.forEach(function (m) {
        g.fillStyle = MARK[m.kind] || "#57606a"; g.fillRect(x(m.t), AXIS_H, 1, H - AXIS_H);
      });
      if (hiT !== undefined) {
        g.strokeStyle = "#cf222e"; g.lineWidth = 2; g.beginPath();
        g.moveTo(x(hiT), AXIS_H); g.lineTo(x(hiT), H); g.stroke(); g.lineWidth = 1;
      }
      if (hiRow !== undefined) { g.strokeStyle = "#cf222e"; g.strokeRect(LABEL_W, y(hiRow) - 1, plotW, rh + 2); }
      return segs;
    }
    drawn += draw();

    cv.addEventListener("mousemove", function (ev) {
      var rc = cv.getBoundingClientRect(), mx = ev.clientX - rc.left, my = ev.clientY - rc.top;
      var i = my >= y(0) ? rowAt(my) : -1, t = (mx - LABEL_W) / plotW * span, lines = [];
      lines.push("t = " + (t / 1e6).toFixed(3) + " s");
      if (i >= 0 && i < n && rows[i].task) {
        var tk = rows[i].task, st = -1;
        for (var j = 0; j < tk.segs.length; j += 2) if (tk.segs[j] <= t && t <= tk.end) st = tk.segs[j + 1];
        lines.push(tk.name + ": " + (st >= 0 ? NAMES[st] : "not seen"));
      }
      c.marks.forEach(function (m) { if (Math.abs(x(m.t) - mx) < 3) lines.push(m.label); });
      tip.textContent = lines.join("\n"); tip.style.display = "block";
      tip.style.left = (ev.clientX + 12) + "px"; tip.style.top = (ev.clientY + 12) + "px";
    });
    cv.addEventListener("mouseleave", function () { tip.style.display = "none"; });

    var info = el("p");
    info.textContent = rows.length + " rows, " + c.segments + " segments, " + c.marks.length + " marks, " +
      c.forks_total + " forks" + (c.forks_total > c.forks.length ? " (first " + c.forks.length + " drawn)" : "");
    if (!bare) root.appendChild(info);
    var ml = el("details"); ml.appendChild(el("summary", {}, "marks (" + c.marks.length + ")"));
    var mu = el("ul"); c.marks.forEach(function (m) { mu.appendChild(el("li", {}, (m.t / 1e6).toFixed(3) + " s  " + m.label)); });
    ml.appendChild(mu); if (!bare) root.appendChild(ml);

    if (c.violations && c.violations.length) {
      root.appendChild(el("h3", {}, "violations (" + c.violations.length + ")"));
      var ul = el("ul", { "class": "viol" });
      c.violations.forEach(function (v) {
        var li = el("li");
        li.appendChild(el("span", { "class": "rule" }, "[" + v.rule + "] "));
        li.appendChild(document.createTextNode((v.task ? v.task + ": " : "") + v.msg + (v.t >= 0 ? "  @" + (v.t / 1e6).toFixed(3) + " s" : "")));
        li.addEventListener("click", function () {
          var r = v.task !== undefined ? byName[v.task] : undefined;
          draw(r, v.t >= 0 ? v.t : undefined);
          wrap.scrollTop = r !== undefined ? Math.max(0, y(r) - 60) : 0;
          wrap.scrollIntoView({ block: "nearest" });
        });
        ul.appendChild(li);
      });
      root.appendChild(ul);
    }
    if (c.output !== undefined) {
      root.appendChild(el("h3", {}, "the selftest script's output"));
      root.appendChild(el("pre", { "class": "forensics" }, c.output));
    }
    (c.forensics || []).forEach(function (f) {
      root.appendChild(el("h3", {}, "stall forensics")); root.appendChild(el("pre", { "class": "forensics" }, f));
    });
    var kd = el("details"); kd.appendChild(el("summary", {}, "kernel log (" + c.kmsg.length + " lines, livepatch lines highlighted)"));
    var pre = el("pre", { "class": "kmsg" });
    c.kmsg.forEach(function (l) {
      var s = el("span", l.lp ? { "class": "lp" } : {}, "[" + l.ts + "] " + l.msg + "\n"); pre.appendChild(s);
    });
    kd.appendChild(pre); root.appendChild(kd);
  });
  document.body.setAttribute("data-drawn", String(drawn));
  document.body.setAttribute("data-ms", String(Math.round(performance.now() - t0)));
})();
