{% raw %}
// The failure explorer: steps through the linearizability search's best attempt for one key.
// Step 0 is the state before the shown ops; step i has placed the first i ops of the attempt;
// the last step tries the op that could not be placed and says why. All text is set with
// textContent; nothing from the data is parsed as markup.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  function el(name, attrs) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    return e;
  }
  function setup(box) {
    var data = JSON.parse(box.querySelector("script.explorer-data").textContent);
    var view = box.querySelector(".ex-view"), stepText = box.querySelector(".ex-step");
    var stateText = box.querySelector(".ex-state"), whyText = box.querySelector(".ex-why");
    var last = data.steps.length + 1, step = 0;
    var order = {};
    data.steps.forEach(function (s, i) { order[s.op] = i; });
    var left = 120, unit = 46, laneH = 38, top = 10;
    var W = left + unit * (data.ranks + 1.5), H = top + laneH * data.lanes.length + 10;
    function draw() {
      var svg = el("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, "font-family": "sans-serif", "font-size": "11" });
      data.lanes.forEach(function (p, l) {
        var y = top + laneH * l + laneH / 2;
        svg.appendChild(el("line", { x1: left, x2: W, y1: y, y2: y, stroke: "#e4e4e8" }));
        var t = el("text", { x: 6, y: y + 4, fill: "#444" });
        var served = data.lane_nodes[l];
        t.textContent = "process " + p + (served ? " · " + served : "");
        svg.appendChild(t);
      });
      data.ops.forEach(function (op) {
        var x0 = left + unit * op.start, x1 = op.end === null ? W - 4 : left + unit * op.end + unit * 0.8;
        var y = top + laneH * op.lane + 6;
        var placedAt = order.hasOwnProperty(op.id) ? order[op.id] : -1;
        var placed = placedAt >= 0 && placedAt < Math.min(step, data.steps.length);
        var current = placedAt >= 0 && placedAt === step - 1;
        var failing = op.id === data.failing;
        var cls = "op " + op.outcome + (placed ? " placed" : "") + (current ? " current" : "") + (failing ? " failing" : "");
        var fill = placed ? "#cfe8d5" : ({ ok: "#d6e4f7", fail: "#eeeeee", info: "#fbe3b8" })[op.outcome];
        var stroke = "#777", width = 1;
        if (current) { stroke = "#1d7a3a"; width = 3; }
        if (failing) { stroke = "#c82828"; width = 3; if (step === last) { fill = "#f6c9c5"; } }
        var g = el("g", { "class": cls, "data-op": op.id });
        var r = el("rect", { x: x0, y: y, width: Math.max(8, x1 - x0), height: laneH - 12, rx: 3, fill: fill, stroke: stroke, "stroke-width": width });
        if (op.end === null) { r.setAttribute("stroke-dasharray", "4 3"); }
        var title = el("title", {});
        title.textContent = op.title;
        var text = el("text", { x: x0 + 4, y: y + laneH / 2 - 2, fill: failing ? "#c82828" : "#222" });
        var chars = Math.max(3, Math.floor((x1 - x0) / 6.5));
        var label = (placed ? "#" + (placedAt + 1 + data.skipped) + " " : "") + (failing ? "✗ " : "") + op.label;
        text.textContent = label.length > chars ? label.slice(0, chars - 1) + "…" : label;
        g.appendChild(title); g.appendChild(r); g.appendChild(text);
        svg.appendChild(g);
      });
      while (view.firstChild) { view.removeChild(view.firstChild); }
      view.appendChild(svg);
    }
    function describe() {
      stepText.textContent = "step " + step + " of " + last;
      box.setAttribute("data-step", String(step));
      if (step === 0) {
        stateText.textContent = (data.skipped > 0 ? data.skipped + " earlier op(s) placed; " : "") +
          "the model is in state " + data.initial_state;
        whyText.textContent = "";
      } else if (step < last) {
        var s = data.steps[step - 1];
        stateText.textContent = "placed " + s.label + " (op " + s.op + "); the model is now in state " + s.state;
        whyText.textContent = "";
      } else {
        stateText.textContent = "the model could be in " + data.stuck_states.join(" or ") +
          " where the next op had to take effect";
        whyText.textContent = "cannot place op " + data.failing + ": " + data.why;
      }
      draw();
    }
    function go(to) { step = Math.max(0, Math.min(last, to)); describe(); }
    box.querySelector(".ex-first").addEventListener("click", function () { go(0); });
    box.querySelector(".ex-back").addEventListener("click", function () { go(step - 1); });
    box.querySelector(".ex-forward").addEventListener("click", function () { go(step + 1); });
    box.querySelector(".ex-last").addEventListener("click", function () { go(last); });
    box.addEventListener("keydown", function (e) {
      if (e.key === "ArrowRight") { go(step + 1); } else if (e.key === "ArrowLeft") { go(step - 1); }
    });
    // Open on the failure: that is what a reader came for; stepping back shows the way there.
    go(last);
  }
  Array.prototype.forEach.call(document.querySelectorAll(".explorer"), setup);
})();
{% endraw %}
