package reports

// css is shared by report.html and index.html (inline: no external styles).
const css = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1200px;margin:0 auto;padding:16px 24px}
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
figure svg{width:100%;height:auto;display:block}
figcaption{font-size:12px;color:#555;padding:2px 6px}
.anomaly{border-left:4px solid #cf222e;padding:4px 10px;margin:10px 0;background:#fff}
nav a{margin-right:12px}
td.trendcell{white-space:nowrap}
svg.spark{vertical-align:middle;margin-right:6px}
td.num{text-align:right;font-variant-numeric:tabular-nums}
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
<h1>{{.Info.Name}} <span class="verdict {{verdictClass .Verdict}}" id="verdict" data-verdict="{{.Verdict}}">{{verdictText .Verdict}}</span></h1>
<nav><a href="#checkers">checkers</a>{{if .Invalid}}<a href="#anomalies">anomalies</a>{{end}}<a href="#plots">plots</a><a href="#faults">faults</a><a href="#availability">availability</a><a href="#stats">stats</a><a href="#details">details</a><a href="#logs">node logs</a></nav>
<table class="kv">
<tr><th>workload</th><td>{{.Info.Workload}}</td></tr>
<tr><th>nemeses</th><td>{{range $i, $n := .Info.Nemeses}}{{if $i}}, {{end}}{{$n}}{{else}}none{{end}}</td></tr>
<tr><th>seed</th><td><code>{{.Info.Seed}}</code></td></tr>
<tr><th>rerun</th><td><code id="rerun">{{.Info.Rerun}}</code></td></tr>
<tr><th>start</th><td>{{if not .Info.Start.IsZero}}{{.Info.Start.UTC.Format "2006-01-02 15:04:05 MST"}}{{end}}</td></tr>
<tr><th>duration</th><td>{{.Duration}}</td></tr>
<tr><th>nodes</th><td>{{range $i, $n := .Info.Nodes}}{{if $i}}, {{end}}{{$n}}{{end}}</td></tr>
{{if .Config}}<tr><th>config</th><td>{{.Config}}</td></tr>{{end}}
</table>
</header>

<section id="checkers">
<h2>Checkers</h2>
<table>
<tr><th>checker</th><th>verdict</th><th>explanation</th><th>anomalies</th></tr>
{{range .Checkers}}<tr class="checker" data-checker="{{.Checker}}" data-verdict="{{.Valid}}"><td>{{.Checker}}</td><td><span class="badge {{verdictClass .Valid}}">{{verdictText .Valid}}</span></td><td>{{.Explanation}}{{if .Error}} <span class="note">error: {{.Error}}</span>{{end}}</td><td class="num">{{len .Result.Anomalies}}</td></tr>
{{else}}<tr><td colspan="4">no checker results</td></tr>{{end}}
</table>
</section>

{{if .Invalid}}<section id="anomalies">
<h2>Anomalies</h2>
{{range .Invalid}}<h3>{{.Checker}} <span class="badge invalid">INVALID</span></h3>
<p>{{.Explanation}}</p>
{{if .RuledOut}}<p>Rules out: {{range $i, $m := .RuledOut}}{{if $i}}, {{end}}<code>{{$m}}</code>{{end}}</p>{{end}}
{{if .Artifacts}}<p>Artifacts: {{range .Artifacts}}<a class="artifact" href="{{.}}">{{.}}</a> {{end}}</p>{{end}}
{{range .Anomalies}}<div class="anomaly">
<p><strong>{{.Type}}</strong>{{if .Key}} on key <code>{{.Key}}</code>{{end}}: {{.Explanation}}</p>
{{if .Ops}}<table class="ops">
<tr><th>index</th><th>time</th><th>process</th><th>type</th><th>f</th><th>value</th><th>error</th><th>node</th></tr>
{{range .Ops}}{{if .Missing}}<tr><td>{{.Index}}</td><td colspan="7" class="note">not in the history</td></tr>{{else}}<tr class="{{if .Partner}}partner{{else}}op{{end}}" data-index="{{.Index}}"><td>{{.Index}}</td><td>{{.Time}}</td><td>{{.Process}}</td><td>{{.Type}}</td><td>{{.F}}</td><td><code>{{.Value}}</code></td><td>{{.Error}}</td><td>{{.Node}}</td></tr>{{end}}
{{end}}</table>{{if .MoreOps}}<p class="note">… {{.MoreOps}} more ops</p>{{end}}{{end}}
</div>{{end}}
{{if .More}}<p class="note">… {{.More}} more anomalies (see results.json)</p>{{end}}
{{end}}
</section>{{end}}

<section id="plots">
<h2>Plots</h2>
<p class="note">Shaded bands: intervals in which a nemesis fault was active (from the completion of the op that started it to the completion of the op that stopped it).</p>
{{range .Plots}}<figure id="{{.ID}}-figure">
{{.SVG}}
<figcaption>{{.Title}}: {{len .Series}} series{{if .Note}}; <strong class="downsampled">{{.Note}}</strong>{{end}}</figcaption>
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
