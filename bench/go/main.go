// Command gobench runs one workload of the gosched benchmark suite in Go and
// prints one line "RESULT {json}". Built at run time by `python -m bench`.
//
//	gobench spawn n=100000
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gobench WORKLOAD [key=value ...]")
		os.Exit(2)
	}
	params := map[string]string{}
	for _, kv := range os.Args[2:] {
		k, v, _ := strings.Cut(kv, "=")
		params[k] = v
	}
	var res map[string]float64
	switch os.Args[1] {
	case "spawn":
		res = spawn(intParam(params, "n"))
	case "pingpong":
		res = pingpong(intParam(params, "n"))
	case "fanin":
		res = fanin(intParam(params, "per_producer"))
	case "timers":
		res = timers(params["file"])
	case "idle":
		res = idle(floatParam(params, "seconds"))
	case "memory":
		res = memory(intParam(params, "n"))
	case "liveness":
		res = liveness(params["kind"])
	case "crowd":
		res = crowd(intParam(params, "callers"), intParam(params, "rounds"), floatParam(params, "call_ms"))
	case "echoserver":
		echoServer()
	default:
		fmt.Fprintln(os.Stderr, "unknown workload", os.Args[1])
		os.Exit(2)
	}
	out, _ := json.Marshal(res)
	fmt.Printf("RESULT %s\n", out)
	os.Exit(0)
}

func intParam(p map[string]string, k string) int {
	n, err := strconv.Atoi(p[k])
	if err != nil {
		panic(fmt.Sprintf("bad %s=%q", k, p[k]))
	}
	return n
}

func floatParam(p map[string]string, k string) float64 {
	f, err := strconv.ParseFloat(p[k], 64)
	if err != nil {
		panic(fmt.Sprintf("bad %s=%q", k, p[k]))
	}
	return f
}

func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(q/100*float64(len(sorted))+0.5) - 1
	if k < 0 {
		k = 0
	}
	if k >= len(sorted) {
		k = len(sorted) - 1
	}
	return sorted[k]
}

func sortFloats(xs []float64) { sort.Float64s(xs) }

func rssBytes() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.Atoi(f[1])
	return float64(pages * os.Getpagesize())
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

func settle() {
	runtime.GC()
	runtime.GC()
}
