package reports

// css is shared by report.html and index.html (inline: no external styles).
const css = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1200px;margin:0 auto;padding:16px 24px}
main.wide{max-width:1500px}
h1{font-size:22px;margin:8px 0}
h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}
code,pre{font:12px/1.4 ui-monospace,Menlo,Consolas,monospace;background:#f0f0f0;padding:1px 4px;border-radius:3px;word-break:break-all}
table{border-collapse:collapse;margin:4px 0;background:#fff}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top;font-size:13px}
th{background:#f3f3f3;font-weight:600}
table.kv table{margin:0}
.verdict{display:inline-block;padding:4px 14px;border-radius:4px;color:#fff;font-weight:700;letter-spacing:.5px}
.verdict.valid{background:#1a7f37}.verdict.invalid{background:#cf222e}.verdict.unknown{background:#bf8700}
.badge{display:inline-block;padding:1px 8px;border-radius:3px;color:#fff;font-size:12px;font-weight:600}
.badge.valid{background:#1a7f37}.badge.invalid{background:#cf222e}.badge.unknown{background:#bf8700}
tr.partner td{color:#666}
.note{color:#666;font-size:12px}
figure{margin:12px 0;background:#fff;border:1px solid #e5e5e5;padding:4px}
figure svg.plot{width:100%;height:auto;display:block}
figcaption{font-size:12px;color:#555;padding:2px 6px}
nav a{margin-right:12px}
td.trendcell{white-space:nowrap}
svg.spark{vertical-align:middle;margin-right:6px}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.outcome{display:inline-block;padding:1px 8px;border-radius:3px;font-size:12px;font-weight:700;border:2px solid;text-transform:uppercase;letter-spacing:.3px;background:#fff}
h1 .outcome{font-size:14px;padding:3px 12px;vertical-align:2px}
.outcome.good{color:#1a7f37;border-color:#1a7f37}.outcome.bad{color:#fff;background:#cf222e;border-color:#cf222e}.outcome.unknown{color:#7d5a00;border-color:#bf8700}
p.expect{margin:2px 0 8px;color:#444}
ul.headline{list-style:none;padding:0;margin:10px 0}
ul.headline li{padding:5px 10px;margin:3px 0;background:#fff;border:1px solid #e5e5e5;border-left:5px solid #1a7f37}
ul.headline li.invalid{border-left-color:#cf222e;background:#fff5f5}
ul.headline li.unknown{border-left-color:#bf8700;background:#fffbea}
ul.headline .at,summary .at{color:#555;white-space:nowrap}
p.detection{margin:8px 0;padding:6px 10px;background:#fff;border:1px solid #e5e5e5;border-left:5px solid #b00020}
p.runline{margin:4px 0;color:#444}
p.runline span{margin-right:18px;white-space:nowrap}
details.config{margin:4px 0}
summary{cursor:pointer}
details.checker-anomalies>summary{font-size:15px;margin:12px 0 6px}
details.anomaly{border-left:4px solid #cf222e;padding:4px 10px;margin:8px 0;background:#fff}
details.anomaly>summary{padding:2px 0}
details.explanation>summary{color:#555}
p.explanation{max-width:110ch;white-space:pre-line}
.cycle-box{display:flex;flex-wrap:wrap;align-items:flex-start;gap:8px 20px;margin:6px 0}
.cycle-box .cycle-key{flex-basis:100%;margin:0}
svg.cycle{max-width:100%;height:auto;background:#fcfcfc;border:1px solid #eee}
figcaption.title{font-size:14px;font-weight:600;color:#222;padding:4px 6px 0}
.downsampled{font-weight:400;color:#555;font-size:12px}
ul.legend{display:flex;flex-wrap:wrap;gap:2px 16px;list-style:none;margin:2px 0 0;padding:0 6px;font-size:12px}
ul.legend li{white-space:nowrap}
svg.swatch{display:inline-block;width:16px;height:10px;vertical-align:-1px;margin-right:4px}
.filter{margin:8px 0}
.filter input{font:inherit;padding:3px 6px;width:260px}
tr.run .bug,tr.trend .bug{display:block;color:#666;font-size:12px}
td.nowrap{white-space:nowrap}
td.why{max-width:280px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;color:#444;font-size:12px}
`

// htmlHead opens every page; the empty data: icon stops the browser asking
// for a favicon.
const htmlHead = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<style>` + css + `</style>
`

const reportHTML = htmlHead + `<title>{{.Info.Name}}: {{verdictText .Verdict}}</title>
</head>
<body>
<main>
<header id="summary">
<h1>{{.Info.Name}} <span class="verdict {{verdictClass .Verdict}}" id="verdict" data-verdict="{{.Verdict}}">{{verdictText .Verdict}}</span>{{if .Outcome.Name}} <span class="outcome {{.Outcome.Class}}" id="outcome" title="{{.Outcome.Says}}">{{.Outcome.Name}}</span>{{end}}</h1>
{{if .Outcome.Name}}<p class="expect" id="expect">{{.Outcome.Says}}{{if .Info.Bug}}: planted bug <em>{{.Info.Bug}}</em>{{end}}.</p>{{end}}
{{with .Info.StayedDown}}<p class="expect" id="stayed-down">After the final heal {{range $i, $n := .}}{{if $i}}, {{end}}<a href="logs/{{$n}}.log">{{$n}}</a>{{end}} stayed down or out of the cluster (see its log); a majority served the final reads.</p>{{end}}
{{with .Info.History}}{{if or .Dropped .Refused .Warnings}}<p class="expect" id="history-read">History {{.}}{{range .Why}}; {{.}}{{end}}{{range .Warnings}}; {{.}}{{end}}.</p>{{end}}{{end}}
<ul class="headline" id="checkers">
{{range .Headlines}}<li class="checker {{verdictClass .Valid}}" data-checker="{{.Checker}}" data-verdict="{{.Valid}}"><span class="badge {{verdictClass .Valid}}">{{verdictText .Valid}}</span> <strong>{{.Checker}}</strong>: <span class="hl-text">{{.Text}}</span>{{if .At}} <span class="at">(at {{.At}})</span>{{end}}{{if .Anchor}} <a href="#{{.Anchor}}">details{{if .More}} (+{{.More}} more){{end}}</a>{{end}}</li>
{{else}}<li class="checker unknown">no checker results</li>{{end}}
</ul>
{{with .Detection}}<p class="detection" id="detection">Time to detection: the first anomalous op was <strong>{{.At}}</strong> into the run{{if .Share}} ({{.Share}} of its length){{end}}, {{if .During}}during <strong>{{.During}}</strong>{{else}}with no fault in effect{{end}} (<a href="#{{.Anchor}}">{{.Checker}}</a>).</p>{{else}}{{if .Invalid}}<p class="detection" id="detection">Time to detection: not known (the checkers gave their anomalies no times).</p>{{end}}{{end}}
<p class="runline">{{if .Info.System}}<span>system <strong>{{.Info.System}}</strong></span>{{end}}<span>workload <strong>{{.Info.Workload}}</strong></span><span>nemeses <strong>{{range $i, $n := .Info.Nemeses}}{{if $i}}, {{end}}{{$n}}{{else}}none{{end}}</strong></span><span>duration <strong>{{.Duration}}</strong></span>{{if .Info.Nodes}}<span>nodes <strong>{{range $i, $n := .Info.Nodes}}{{if $i}}, {{end}}{{$n}}{{end}}</strong></span>{{end}}<span>seed <code>{{.Info.Seed}}</code></span>{{if not .Info.Start.IsZero}}<span>started {{.Info.Start.UTC.Format "2006-01-02 15:04:05 MST"}}</span>{{end}}</p>
<p class="runline">rerun: <code id="rerun">{{.Info.Rerun}}</code></p>
{{with .Shrink}}<div class="runline" id="shrink">{{if .IsOriginal}}<strong>Minimal reproducer</strong> (faultline shrink): {{.FaultsBefore}} faults shrunk to {{len .Faults}}{{if .Reproductions}}, reproduced in {{.Reproduced}} of {{.Reproductions}} runs{{end}}:
<ul>{{range .Faults}}<li><code>{{.}}</code></li>{{end}}</ul>
time limit {{.TimeLimit}}, {{.Workers}} workers; schedule <code>{{.Schedule}}</code>; rerun: <code>{{.Rerun}}</code>{{else}}This run replays the minimal reproducer of <a href="{{.OriginalReport}}">{{.Original}}</a> (faultline shrink): schedule <code>{{.Schedule}}</code>.{{end}}</div>{{end}}
{{if .Config}}<details class="config"><summary>configuration</summary>{{.Config}}</details>{{end}}
<nav>{{if .Invalid}}<a href="#anomalies">anomalies</a>{{end}}<a href="#plots">plots</a><a href="#faults">faults</a>{{if .Members}}<a href="#membership">membership</a>{{end}}<a href="#availability">availability</a><a href="#stats">stats</a><a href="#details">checker details</a><a href="#logs">node logs</a></nav>
</header>

{{if .Invalid}}<section id="anomalies">
<h2>Anomalies</h2>
{{range .Invalid}}<details class="checker-anomalies" open data-checker="{{.Checker}}"><summary><strong>{{.Checker}}</strong> <span class="badge invalid">INVALID</span> <span class="note">{{len .Result.Anomalies}} anomalies</span></summary>
{{if .LongExplanation}}<details class="explanation"><summary>the checker's full explanation ({{len .Explanation}} characters)</summary><p class="explanation">{{.Explanation}}</p></details>{{else}}<p class="explanation">{{.Explanation}}</p>{{end}}
{{if .RuledOut}}<p>Rules out: {{range $i, $m := .RuledOut}}{{if $i}}, {{end}}<code>{{$m}}</code>{{end}}</p>{{end}}
{{if .Artifacts}}<p class="artifacts">{{if .ArtifactNote}}{{.ArtifactNote}}: {{end}}{{range .Artifacts}}<a class="artifact" href="{{.}}">{{.}}</a> {{end}}</p>{{end}}
{{range .Anomalies}}<details class="anomaly" id="{{.ID}}"{{if .Open}} open{{end}}><summary><strong>{{.Type}}</strong>{{if .At}} <span class="at">at {{.At}}</span>{{end}}{{if .KeyShown}} on key <code>{{.KeyShown}}</code>{{end}}{{if .Line}}: {{.Line}}{{end}}</summary>
{{if .Cycle}}<div class="cycle-box">{{.Cycle}}
<table class="txns"><tr><th></th><th>index</th><th>process</th><th>completed</th><th>transaction</th></tr>
{{range .Txns}}<tr><th>{{.Name}}</th><td>#{{.Op.Index}}</td>{{if .Op.Missing}}<td colspan="3" class="note">not in the history</td>{{else}}<td>{{.Op.Process}}</td><td>{{.Op.Type}} at {{.Op.Time}}</td><td><code>{{.Op.Value}}</code></td>{{end}}</tr>
{{end}}</table>
<p class="note cycle-key"><span style="color:#1f77b4">ww</span> write-write, <span style="color:#2ca02c">wr</span> write-read, <span style="color:#d62728">rw</span> read-write (anti-dependency, dashed), <span style="color:#7f7f7f">process</span>, <span style="color:#9467bd">realtime</span>; hover an arrow for why.</p></div>{{end}}
{{if .CycleOf}}<p class="note">{{.CycleOf}}</p>{{end}}
<p class="explanation">{{.Explanation}}</p>
{{if .Ops}}<table class="ops">
<tr><th>index</th><th>time</th><th>process</th><th>type</th><th>f</th><th>value</th><th>error</th><th>node</th></tr>
{{range .Ops}}{{if .Missing}}<tr><td>{{.Index}}</td><td colspan="7" class="note">not in the history</td></tr>{{else}}<tr class="{{if .Partner}}partner{{else}}op{{end}}" data-index="{{.Index}}"><td>{{.Index}}</td><td>{{.Time}}</td><td>{{.Process}}</td><td>{{.Type}}</td><td>{{.F}}</td><td><code>{{.Value}}</code></td><td>{{.Error}}</td><td>{{.Node}}</td></tr>{{end}}
{{end}}</table>{{if .MoreOps}}<p class="note">… {{.MoreOps}} more ops</p>{{end}}{{end}}
</details>{{end}}
{{if .More}}<p class="note">… {{.More}} more anomalies (see results.json)</p>{{end}}
</details>
{{end}}
</section>{{end}}

<section id="plots">
<h2>Plots</h2>
<p class="note">Shaded bands: intervals in which a nemesis fault was active (from the completion of the op that started it to the completion of the op that stopped it); the coloured lanes above each plot give each fault kind its own row, so overlapping faults stay apart. Red dashed lines mark the anomalies' times; hover a band, a lane or a marker for what it was.</p>
{{range .Plots}}<figure id="{{.ID}}-figure">
<figcaption class="title">{{.Title}}{{if .Note}} <span class="downsampled">({{.Note}})</span>{{end}}</figcaption>
<ul class="legend">{{range .Legend}}<li class="{{.Class}}">{{.Swatch}}{{.Name}}</li>{{end}}</ul>
{{.SVG}}
</figure>
{{end}}
</section>

<section id="faults">
<h2>Fault intervals</h2>
<table>
<tr><th>fault</th><th>nodes</th><th>from</th><th>to</th><th>length</th><th>start op</th><th>stop op</th></tr>
{{range .Intervals}}<tr class="interval" data-kind="{{.Kind}}"><td>{{.Kind}}</td><td>{{.Nodes}}</td><td>{{.Start}}</td><td>{{.End}}</td><td>{{.Length}}</td><td>#{{.StartIndex}}</td><td>{{if ge .EndIndex 0}}#{{.EndIndex}}{{else}}-{{end}}</td></tr>
{{else}}<tr><td colspan="7">no faults</td></tr>{{end}}
</table>
</section>

{{if .Members}}<section id="membership">
<h2>Membership</h2>
<p class="note">The cluster's members over time: each change the membership fault made through the system's own API, and the member list read back after it (a learner does not vote yet).</p>
<table>
<tr><th>at</th><th>op</th><th>change</th><th>members after</th></tr>
{{range .Members}}<tr class="member-change{{if not .OK}} failed{{end}}" data-index="{{.Index}}"><td>{{.At}}</td><td>{{.F}}{{if not .OK}} (info){{end}}</td><td>{{.Change}}{{if .Error}} <span class="note">{{.Error}}</span>{{end}}</td><td>{{.Members}}</td></tr>
{{end}}</table>
</section>{{end}}

<section id="availability">
<h2>Availability</h2>
<table class="kv">
{{range .Avail}}<tr><th>{{.K}}</th><td>{{.V}}</td></tr>
{{end}}</table>
{{if .AvailDetail}}<h3>availability checker</h3>{{.AvailDetail}}{{end}}
</section>

<section id="stats">
<h2>Operations and latency</h2>
<table class="kv">
{{range .Counts}}<tr><th>{{.K}}</th><td class="num">{{.V}}</td></tr>
{{end}}</table>
<h3>by function</h3>
<table>
<tr><th>f</th><th>ok</th><th>fail</th><th>info</th><th>never completed</th></tr>
{{range .ByF}}<tr><td>{{.F}}</td><td class="num">{{.OK}}</td><td class="num">{{.Fail}}</td><td class="num">{{.Info}}</td><td class="num">{{.Open}}</td></tr>
{{end}}</table>
<h3>latency of ok ops (HdrHistogram)</h3>
<table class="kv">
{{range .Latency}}<tr><th>{{.K}}</th><td class="num">{{.V}}</td></tr>
{{end}}</table>
</section>

<section id="details">
<h2>Checker details</h2>
{{range .Checkers}}<details{{if ne (verdictClass .Valid) "valid"}} open{{end}}><summary><strong>{{.Checker}}</strong> <span class="badge {{verdictClass .Valid}}">{{verdictText .Valid}}</span></summary>
{{if .Details}}{{.Details}}{{else}}<p class="note">no details</p>{{end}}
{{if .Artifacts}}<p>Artifacts: {{range .Artifacts}}<a class="artifact" href="{{.}}">{{.}}</a> {{end}}</p>{{end}}
</details>
{{end}}
</section>

<section id="logs">
<h2>Node logs</h2>
{{if .Info.NodeLogs}}<ul>{{range .Info.NodeLogs}}<li><a class="log" href="{{.}}">{{.}}</a></li>{{end}}</ul>{{else}}<p class="note">no node logs</p>{{end}}
</section>
<p class="note">Generated {{.Generated}} by faultline. History, results.json and this report live in the same directory.</p>
</main>
</body>
</html>
`
