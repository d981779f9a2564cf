// ToRouter console: charts drawn by uPlot from the table each chart holds (R15.3). The table
// is the data and the fallback: without JavaScript it is the chart; with it the chart is drawn
// above and the table folds into "Show as a table". Nothing is fetched: the page has it all.
"use strict";

(function () {
  const HEIGHT = 220;

  function cssVar(name, fallback) {
    const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  // The table's series: a `th[data-series]` per column, a `[data-x]` day per row (noon UTC,
  // so the day never shifts in the browser's timezone), a `data-value` per cell.
  function read(table) {
    const heads = Array.from(table.querySelectorAll("thead th[data-series]"));
    const rows = Array.from(table.querySelectorAll("tbody tr"));
    const xs = rows.map((row) => Date.parse(row.querySelector("[data-x]").dataset.x + "T12:00:00Z") / 1000);
    const columns = heads.map((_, i) => rows.map((row) => Number(row.querySelectorAll("td")[i].dataset.value)));
    return { heads, xs, columns };
  }

  function draw(figure) {
    const table = figure.querySelector("[data-chart-table]");
    const plot = figure.querySelector("[data-chart-plot]");
    if (!table || !plot || typeof window.uPlot !== "function") return;
    const { heads, xs, columns } = read(table);
    if (xs.length === 0) return;
    const uPlot = window.uPlot;
    const lang = document.documentElement.lang || "en";
    // "$" in every language (zh would write "US$", too wide for an axis); small amounts keep
    // three significant digits, so a chart of fractions of a cent is not all "$0.00".
    const dollars = new Intl.NumberFormat(lang, { style: "currency", currency: "USD", currencyDisplay: "narrowSymbol", maximumFractionDigits: 2 });
    const cents = new Intl.NumberFormat(lang, { style: "currency", currency: "USD", currencyDisplay: "narrowSymbol", maximumSignificantDigits: 3 });
    const usd = { format: (v) => (Math.abs(v) >= 1 || v === 0 ? dollars : cents).format(v) };
    const count = new Intl.NumberFormat(lang, { maximumFractionDigits: 0 });
    const day = new Intl.DateTimeFormat(lang, { month: "short", day: "numeric", timeZone: "UTC" });
    const ink = cssVar("--muted", "#4b5563");
    const grid = cssVar("--line", "#d6dae1");
    const colours = [cssVar("--chart-1", "#1d4ed8"), cssVar("--chart-2", "#c2410c")];
    const series = [{}];
    const scales = { x: { time: true } };
    const axes = [{
      stroke: ink,
      space: 72,
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid, width: 1 },
      values: (u, values) => values.map((v) => day.format(new Date(v * 1000))),
    }];
    heads.forEach((head, i) => {
      const right = head.dataset.axis === "right";
      const scale = right ? "right" : "left";
      const money = head.dataset.unit === "usd";
      const format = money ? usd : count;
      scales[scale] = { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] };
      series.push({
        label: head.textContent.trim(),
        scale,
        stroke: colours[i % colours.length],
        fill: i === 0 ? colours[0] : undefined,
        width: i === 0 ? 1 : 2,
        paths: i === 0 ? uPlot.paths.bars({ size: [0.6, 48] }) : undefined,
        points: { show: i !== 0 && xs.length <= 31, size: 5 },
      });
      axes.push({
        scale,
        side: right ? 1 : 3,
        stroke: ink,
        size: money ? 76 : 48,
        grid: { show: !right, stroke: grid, width: 1 },
        ticks: { stroke: grid, width: 1 },
        // Counts are whole: a tick at 0.5 requests is left unlabelled.
        values: (u, values) => values.map((v) => (money || Number.isInteger(v) ? format.format(v) : "")),
      });
    });
    const chart = new uPlot(
      {
        width: plot.clientWidth,
        height: HEIGHT,
        legend: { show: false },
        cursor: { show: false },
        series,
        scales,
        axes,
      },
      [xs, ...columns],
      plot,
    );
    figure.classList.add("drawn");
    const legend = figure.querySelector("[data-chart-legend]");
    if (legend) legend.hidden = false;
    const data = figure.querySelector("[data-chart-data]");
    if (data) data.open = false;
    let width = plot.clientWidth;
    new ResizeObserver(() => {
      if (plot.clientWidth !== width) {
        width = plot.clientWidth;
        chart.setSize({ width, height: HEIGHT });
      }
    }).observe(plot);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-chart]").forEach(draw);
  });
})();
