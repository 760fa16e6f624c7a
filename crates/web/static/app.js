// linli pages: the map picker of the report form, the dashboard's charts
// and map. No inline scripts (the pages' CSP allows 'self' only).
(function () {
  "use strict";

  function tileLayer(map, url) {
    if (url) {
      L.tileLayer(url, { maxZoom: 19, attribution: "" }).addTo(map);
    }
  }

  function gridLayer(map, url, fit) {
    return fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (fc) {
        var layer = L.geoJSON(fc, {
          style: { color: "#0b5cad", weight: 1, fillOpacity: 0.06 },
          onEachFeature: function (f, l) {
            l.bindTooltip(String(f.properties.name || f.properties.code));
          }
        }).addTo(map);
        if (fit && layer.getBounds().isValid()) {
          map.fitBounds(layer.getBounds());
        }
        return layer;
      });
  }

  // Report / intake form: a click on the map pins the place; a place
  // picked from the list fills the point too.
  function picker() {
    var el = document.getElementById("pick-map");
    if (!el || typeof L === "undefined") return;
    var lon = document.getElementById("lon");
    var lat = document.getElementById("lat");
    var map = L.map(el, { zoomSnap: 0.25 }).setView([32.04, 118.79], 12);
    tileLayer(map, el.dataset.tiles);
    var marker = null;
    function pin(la, lo) {
      if (marker) marker.setLatLng([la, lo]); else marker = L.circleMarker([la, lo], { radius: 8, color: "#d4380d" }).addTo(map);
    }
    gridLayer(map, el.dataset.geojson, true).then(function (layer) {
      layer.on("click", function (e) { set(e.latlng); });
    });
    function set(ll) {
      lon.value = ll.lng.toFixed(6);
      lat.value = ll.lat.toFixed(6);
      pin(ll.lat, ll.lng);
      nearby();
    }
    // Open reports of the same kind around the point, before submitting.
    function nearby() {
      var box = document.getElementById("nearby");
      if (!box || !lon.value || !lat.value || typeof htmx === "undefined") return;
      var cat = document.getElementById("category");
      htmx.ajax("GET", "/ui/nearby?lon=" + encodeURIComponent(lon.value) + "&lat=" + encodeURIComponent(lat.value) +
        "&category=" + encodeURIComponent(cat ? cat.value : ""), { target: "#nearby", swap: "innerHTML" });
    }
    var catSelect = document.getElementById("category");
    if (catSelect) catSelect.addEventListener("change", nearby);
    map.on("click", function (e) { set(e.latlng); });
    // A form that came back refused keeps its point: show the pin again.
    var la0 = parseFloat(lat.value), lo0 = parseFloat(lon.value);
    if (isFinite(la0) && isFinite(lo0)) {
      pin(la0, lo0);
      map.setView([la0, lo0], 16);
    }
    var place = document.getElementById("place");
    if (place) {
      place.addEventListener("change", function () {
        var p = place.value.split(",");
        if (p.length === 2) {
          var address = document.getElementById("address");
          if (address && !address.value) address.value = place.options[place.selectedIndex].text;
          lon.value = p[0];
          lat.value = p[1];
          pin(parseFloat(p[1]), parseFloat(p[0]));
          map.setView([parseFloat(p[1]), parseFloat(p[0])], 16);
          nearby();
        }
      });
    }
  }

  function charts() {
    if (typeof echarts === "undefined") return;
    var t = document.getElementById("trend");
    if (t) {
      var d = JSON.parse(t.dataset.trend);
      echarts.init(t).setOption({
        animation: false,
        tooltip: { trigger: "axis" },
        legend: { data: [t.dataset.requests, t.dataset.closed, t.dataset.satisfaction] },
        xAxis: { type: "category", data: d.months },
        yAxis: [{ type: "value" }, { type: "value", max: 100, axisLabel: { formatter: "{value}%" } }],
        series: [
          { name: t.dataset.requests, type: "bar", data: d.requests },
          { name: t.dataset.closed, type: "bar", data: d.closed },
          { name: t.dataset.satisfaction, type: "line", yAxisIndex: 1, data: d.satisfaction }
        ]
      });
    }
    var m = document.getElementById("mix");
    if (m) {
      echarts.init(m).setOption({
        animation: false,
        tooltip: { trigger: "item" },
        series: [{ type: "pie", radius: ["35%", "70%"], data: JSON.parse(m.dataset.mix) }]
      });
    }
  }

  // A case's own page: where it is.
  function casePoint() {
    var el = document.getElementById("case-point");
    if (!el || typeof L === "undefined") return;
    var la = parseFloat(el.dataset.lat), lo = parseFloat(el.dataset.lon);
    var map = L.map(el).setView([la, lo], 16);
    tileLayer(map, el.dataset.tiles);
    gridLayer(map, el.dataset.geojson, false);
    L.circleMarker([la, lo], { radius: 9, color: "#d4380d", fillOpacity: 0.6 }).addTo(map);
  }

  function caseMap() {
    var el = document.getElementById("case-map");
    if (!el || typeof L === "undefined") return;
    var map = L.map(el).setView([32.04, 118.79], 12);
    tileLayer(map, el.dataset.tiles);
    gridLayer(map, el.dataset.geojson, true);
    fetch(el.dataset.cases, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (cases) {
        cases.forEach(function (c) {
          if (c.lon == null || c.lat == null) return;
          var m = L.circleMarker([c.lat, c.lon], {
            radius: 5, weight: 1,
            color: c.overdue ? "#a40e26" : "#d48806",
            fillOpacity: 0.7
          }).addTo(map);
          var a = document.createElement("a");
          a.href = "/cases/" + c.id;
          a.textContent = c.code + " " + c.title;
          m.bindPopup(a);
        });
      });
  }

  // Limits said before sending: a text's length as it is typed (and no
  // silent cut, which maxlength would make of a paste), a photo's size
  // and type as soon as it is chosen.
  function limits() {
    document.querySelectorAll("[data-max-chars]").forEach(function (el) {
      var max = parseInt(el.dataset.maxChars, 10);
      var counter = el.id ? document.querySelector('[data-counter-for="' + el.id + '"]') : null;
      var zh = document.documentElement.lang !== "en";
      function check() {
        var n = Array.from(el.value).length;
        var over = n > max;
        el.setCustomValidity(over ? (zh ? "不能超过" + max + "个字（现有" + n + "个字）" : "At most " + max + " characters (" + n + " now)") : "");
        if (over) el.setAttribute("aria-invalid", "true"); else if (!el.dataset.serverInvalid) el.removeAttribute("aria-invalid");
        if (counter) {
          counter.textContent = zh ? ("已输入 " + n + " / " + max + " 字") : (n + " / " + max + " characters");
          counter.classList.toggle("over", over);
        }
      }
      if (el.getAttribute("aria-invalid") === "true") el.dataset.serverInvalid = "1";
      el.addEventListener("input", check);
      check();
    });
    document.querySelectorAll("input[type=file][data-max-bytes]").forEach(function (el) {
      var out = document.getElementById(el.dataset.errorAt);
      el.addEventListener("change", function () {
        var f = el.files && el.files[0];
        var why = "";
        if (f && f.size > parseInt(el.dataset.maxBytes, 10)) why = el.dataset.tooBig;
        else if (f && el.accept && el.accept.split(",").indexOf(f.type) < 0) why = el.dataset.wrongType;
        el.setCustomValidity(why || "");
        if (out) {
          out.textContent = why;
          out.hidden = !why;
        }
        if (why) el.reportValidity();
      });
    });
  }

  // Lists that become cards on a phone: each cell labelled with its
  // column's header (the CSS shows the label only on narrow screens).
  function label(root) {
    (root || document).querySelectorAll("table.stack").forEach(function (t) {
      var head = t.querySelector("tr");
      if (!head) return;
      var names = Array.from(head.children).map(function (th) { return th.tagName === "TH" ? th.textContent.trim() : ""; });
      t.querySelectorAll("tr").forEach(function (tr) {
        Array.from(tr.children).forEach(function (td, i) {
          if (td.tagName === "TD" && names[i] && !td.hasAttribute("colspan")) td.setAttribute("data-label", names[i]);
        });
      });
    });
  }
  document.addEventListener("htmx:afterSwap", function (e) { label(e.target.parentElement || document); });

  document.addEventListener("DOMContentLoaded", function () {
    label();
    limits();
    picker();
    charts();
    caseMap();
    casePoint();
  });
})();
