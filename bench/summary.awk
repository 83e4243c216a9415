# summary.awk prints one line per benchmark result of `go test -bench`
# output: the name (without the -GOMAXPROCS suffix) and its custom metrics,
# ns/op left out where a throughput is reported or it is 0 (the ratio
# lines). Used by `make bench`.
/^Benchmark/ && NF >= 4 {
	name = $1
	sub(/-[0-9]+$/, "", name)
	sub(/^Benchmark/, "", name)
	line = ""
	hasrate = 0
	for (i = 3; i < NF; i += 2) if ($(i+1) ~ /\/s$/) hasrate = 1
	for (i = 3; i < NF; i += 2) {
		if ($(i+1) == "ns/op" && (hasrate || $i == 0)) continue
		if ($(i+1) == "conns" || $(i+1) == "errors" && $i == 0) continue
		line = line sprintf("  %s %s", $i, $(i+1))
	}
	printf "%-48s%s\n", name, line
}
