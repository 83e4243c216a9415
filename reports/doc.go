// Package reports turns a finished run into something a person can read:
// a self-contained report.html per run, a summary.json the index is built
// from, store/index.html listing every stored run, and a small file server
// for the store.
//
// report.html puts the answer first: one headline line per checker (the
// verdict and the most telling anomaly in words, at most MaxHeadline
// characters), the time to detection (when the first anomalous op
// happened, and under which faults), and for a suite run the outcome
// against the scenario's expectation. Below, folded sections give each
// anomaly's full explanation, its ops, and for transaction anomalies the
// dependency cycle drawn as a small SVG graph (cycleSVG); then the plots
// of latency, latency quantiles and throughput, with the fault intervals
// shaded and laid in one lane per fault kind, and the anomalies' times
// marked. Plot titles and legends are HTML, so the browser lays their text
// out and nothing is clipped.
//
// store/index.html shows each run's expected verdict against the actual
// one (caught, missed, valid, false alarm, unknown), per test the outcomes
// of its recent runs and the detection rate of its planted bug, and a
// filter by test name.
//
// Everything the browser needs is inline: no scripts, styles, fonts or
// images are fetched, so a report can be opened from disk or a CI artifact
// (the index's filter is a few lines of inline script; report.html has
// none). Plot data is computed here from the raw history; only
// checker.Result is taken from the checkers.
package reports
