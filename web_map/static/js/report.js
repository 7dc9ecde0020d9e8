/* The weekly report's trend chart (ECharts), from the figures in the chart's data-chart
 * attribute; no inline script. Drawn without animation so printing catches it whole;
 * `document.body.dataset.chart = "drawn"` says it is there. */
(function () {
  "use strict";
  function draw() {
    const el = document.getElementById("rp-chart");
    if (!el || !window.echarts) return;
    const { labels: t, points } = JSON.parse(el.dataset.chart);
    const chart = window.echarts.init(el, null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      legend: { data: [t.m_received, t.m_closed, t.m_closed_on_time] },
      grid: { left: 40, right: 20, top: 30, bottom: 24 },
      xAxis: { type: "category", data: points.map((p) => p.day.slice(5)) },
      yAxis: { type: "value", minInterval: 1 },
      series: [
        { name: t.m_received, type: "bar", data: points.map((p) => p.received) },
        { name: t.m_closed, type: "bar", data: points.map((p) => p.closed) },
        { name: t.m_closed_on_time, type: "line", data: points.map((p) => p.closed_on_time) },
      ],
    });
    document.body.dataset.chart = "drawn";
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
