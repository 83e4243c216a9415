// Package reports turns a finished run into something a person can read: a
// self-contained report.html per run (verdicts, anomalies with the ops
// involved, inline SVG plots of latency, latency quantiles and throughput
// with the nemesis fault intervals shaded, checker details, node log links),
// a summary.json the index is built from, store/index.html listing every
// stored run with trend sparklines, and a small file server for the store.
//
// Everything the browser needs is inline: no scripts, styles, fonts or
// images are fetched, so a report can be opened from disk or a CI artifact.
// Plot data (latencies, quantiles, throughput, fault intervals) is computed
// here from the raw history; only checker.Result is taken from the checkers.
package reports
