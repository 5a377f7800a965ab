// Command gwsummary summarizes gateway-conformance reports (go test2json
// lines) by leaf test and exits non-zero when a leaf fails that the
// known-failures file does not list: a regression. It is run by
// .ci/gateway-conformance.sh; see docs/gateway.md.
//
// Usage: go run ./.ci/gwsummary -known docs/gateway-known-failures.txt NAME=report.json...
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action string
	Test   string
}

func main() {
	known := flag.String("known", "", "file listing known failing leaf tests, one per line (# comments)")
	flag.Parse()
	allowed := map[string]bool{}
	if *known != "" {
		b, err := os.ReadFile(*known)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gwsummary:", err)
			os.Exit(2)
		}
		for _, l := range strings.Split(string(b), "\n") {
			l = strings.TrimSpace(l)
			if i := strings.Index(l, "#"); i >= 0 {
				l = strings.TrimSpace(l[:i])
			}
			if l != "" {
				allowed[l] = true
			}
		}
	}
	var regressions, fixed []string
	total := map[string]int{}
	for _, arg := range flag.Args() {
		name, path, ok := strings.Cut(arg, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "gwsummary: argument %q is not NAME=report.json\n", arg)
			os.Exit(2)
		}
		leaves, err := readLeaves(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gwsummary:", err)
			os.Exit(2)
		}
		if len(leaves) == 0 {
			fmt.Fprintf(os.Stderr, "gwsummary: %s has no test results (did the suite run?)\n", path)
			os.Exit(2)
		}
		counts := map[string]int{}
		byTop := map[string]map[string]int{}
		for t, a := range leaves {
			counts[a]++
			total[a]++
			top, _, _ := strings.Cut(t, "/")
			if byTop[top] == nil {
				byTop[top] = map[string]int{}
			}
			byTop[top][a]++
			switch {
			case a == "fail" && !allowed[t]:
				regressions = append(regressions, t)
			case a == "pass" && allowed[t]:
				fixed = append(fixed, t)
			}
		}
		fmt.Printf("%s: %d passed, %d failed, %d skipped (leaf tests)\n", name, counts["pass"], counts["fail"], counts["skip"])
		tops := make([]string, 0, len(byTop))
		for t := range byTop {
			tops = append(tops, t)
		}
		sort.Strings(tops)
		for _, t := range tops {
			c := byTop[t]
			fmt.Printf("  %-55s pass %4d  fail %3d  skip %3d\n", t, c["pass"], c["fail"], c["skip"])
		}
	}
	fmt.Printf("total: %d passed, %d failed, %d skipped\n", total["pass"], total["fail"], total["skip"])
	sort.Strings(fixed)
	for _, t := range fixed {
		fmt.Printf("now passing, remove from the known-failures list: %s\n", t)
	}
	if len(regressions) > 0 {
		sort.Strings(regressions)
		fmt.Printf("%d failing leaf tests are not in the known-failures list (regressions):\n", len(regressions))
		for _, t := range regressions {
			fmt.Println("  " + t)
		}
		os.Exit(1)
	}
}

// readLeaves returns the final action of every leaf test (one with no
// subtests) in a test2json stream.
func readLeaves(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	res := map[string]string{}
	parents := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Test == "" {
			continue
		}
		switch e.Action {
		case "pass", "fail", "skip":
			res[e.Test] = e.Action
			for i := strings.LastIndex(e.Test, "/"); i > 0; i = strings.LastIndex(e.Test[:i], "/") {
				parents[e.Test[:i]] = true
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for t := range parents {
		delete(res, t)
	}
	return res, nil
}
