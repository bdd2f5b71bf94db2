// The fund monitor's live part: the session's event stream (`figures` every few seconds)
// redraws the flow and success-rate charts and the tiles, and tells htmx to reload the
// recent payments. No data is computed here; the server's figures are only drawn.
(function () {
  const flowSeries = { labels: [], succeeded: [], failed: [] };
  const POINTS_MAX = 60;
  const flowChart = new Chart(document.getElementById("flow-chart"), {
    type: "line",
    data: { labels: flowSeries.labels, datasets: [
      { label: "succeeded", data: flowSeries.succeeded, borderColor: "#1a7f37", tension: 0.3 },
      { label: "failed", data: flowSeries.failed, borderColor: "#c8102e", tension: 0.3 },
    ] },
    options: { animation: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
  const rateChart = new Chart(document.getElementById("rate-chart"), {
    type: "bar",
    data: { labels: [], datasets: [{ label: "%", data: [], backgroundColor: "#1d2733" }] },
    options: { animation: false, scales: { y: { min: 0, max: 100 } }, plugins: { legend: { display: false } } },
  });

  function sum(flows, key) { return flows.reduce((n, f) => n + f[key], 0); }

  function draw(flows, at) {
    const done = (f) => f.succeeded_count + f.failed_count + f.closed_count;
    const finished = flows.filter((f) => done(f) > 0);
    rateChart.data.labels = finished.map((f) => `${f.channel || "—"} ${f.currency}`);
    rateChart.data.datasets[0].data = finished.map((f) => Math.round((1000 * f.succeeded_count) / done(f)) / 10);
    rateChart.update();
    flowSeries.labels.push(at.slice(11, 19));
    flowSeries.succeeded.push(sum(flows, "succeeded_count"));
    flowSeries.failed.push(sum(flows, "failed_count"));
    if (flowSeries.labels.length > POINTS_MAX) { flowSeries.labels.shift(); flowSeries.succeeded.shift(); flowSeries.failed.shift(); }
    flowChart.update();
    document.getElementById("tile-count").textContent = sum(flows, "payments_count");
    document.getElementById("tile-succeeded").textContent = sum(flows, "succeeded_count");
    document.getElementById("tile-failed").textContent = sum(flows, "failed_count");
  }

  draw(JSON.parse(document.getElementById("initial-flows").textContent), new Date().toISOString());
  const source = new EventSource("/console/stream");
  source.addEventListener("figures", (event) => {
    const figures = JSON.parse(event.data);
    draw(figures.flows, figures.at);
    document.getElementById("tile-incidents").textContent = figures.incidents.open + figures.incidents.acknowledged;
    document.body.dataset.figuresAt = figures.at;  // the browser tests wait on it
    htmx.trigger(document.body, "figures");
  });
})();
