package main

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

const producers = 8
const capacity = 128
const parked = 1000

func spawn(n int) map[string]float64 {
	var wg sync.WaitGroup
	run := func(k int) {
		for i := 0; i < k; i++ {
			wg.Add(1)
			go func() { wg.Done() }()
		}
		wg.Wait()
	}
	run(min(n, 1000))
	t0 := time.Now()
	run(n)
	return map[string]float64{"ns_per_task": float64(time.Since(t0).Nanoseconds()) / float64(n)}
}

func pingpong(n int) map[string]float64 {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	for i := 0; i < min(n, 1000); i++ {
		ping <- i
		<-pong
	}
	t0 := time.Now()
	for i := 0; i < n; i++ {
		ping <- i
		<-pong
	}
	dt := time.Since(t0)
	close(ping)
	return map[string]float64{"ns_per_rt": float64(dt.Nanoseconds()) / float64(n)}
}

func fanin(perProducer int) map[string]float64 {
	ch := make(chan int, capacity)
	var wg sync.WaitGroup
	t0 := time.Now()
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perProducer; i++ {
				ch <- i
			}
		}()
	}
	go func() { wg.Wait(); close(ch) }()
	count := 0
	for range ch {
		count++
	}
	dt := time.Since(t0)
	return map[string]float64{"items_per_s": float64(count) / dt.Seconds()}
}

func timers(file string) map[string]float64 {
	f, err := os.Open(file)
	if err != nil {
		panic(err)
	}
	var ds []time.Duration
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		s, err := strconv.ParseFloat(sc.Text(), 64)
		if err != nil {
			panic(err)
		}
		ds = append(ds, time.Duration(s*1e9))
	}
	f.Close()
	late := make([]float64, len(ds))
	var wg sync.WaitGroup
	t0 := time.Now()
	for i, d := range ds {
		wg.Add(1)
		go func(i int, d time.Duration) {
			defer wg.Done()
			deadline := time.Now().Add(d)
			time.Sleep(d)
			late[i] = time.Since(deadline).Seconds()
		}(i, d)
	}
	wg.Wait()
	wall := time.Since(t0).Seconds()
	sortFloats(late)
	return map[string]float64{
		"wall_s":      wall,
		"late_p50_ms": percentile(late, 50) * 1e3,
		"late_p99_ms": percentile(late, 99) * 1e3,
	}
}

func idle(seconds float64) map[string]float64 {
	ch := make(chan struct{})
	for i := 0; i < parked; i++ {
		go func() { <-ch }()
	}
	time.Sleep(100 * time.Millisecond)
	os.Stdout.WriteString("ASLEEP\n") // the runner samples the idle window from outside (bench/idle.py)
	c0, w0 := cpuSeconds(), time.Now()
	time.Sleep(time.Duration(seconds * 1e9))
	c1, w := cpuSeconds(), time.Since(w0)
	return map[string]float64{"cpu_ms": 1e3 * (c1 - c0), "cpu_pct": 100 * (c1 - c0) / w.Seconds()}
}

func memory(n int) map[string]float64 {
	ch := make(chan struct{})
	var started sync.WaitGroup
	started.Add(n)
	settle()
	before := rssBytes()
	for i := 0; i < n; i++ {
		go func() {
			started.Done()
			<-ch
		}()
	}
	started.Wait()
	time.Sleep(10 * time.Millisecond)
	settle()
	after := rssBytes()
	return map[string]float64{"bytes_per_task": (after - before) / float64(n)}
}

// startTicker runs a 1 ms ticker for the liveness workloads and, 20 ms later,
// returns; the function it returns waits 20 ms more, stops it and gives its
// largest gap between two ticks, in seconds.
func startTicker() func() float64 {
	done := make(chan struct{})
	result := make(chan float64)
	go func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		last := time.Now()
		maxGap := 0.0
		first := true
		for {
			select {
			case <-t.C:
				now := time.Now()
				if gap := now.Sub(last).Seconds(); !first && gap > maxGap {
					maxGap = gap
				}
				first = false
				last = now
			case <-done:
				result <- maxGap
				return
			}
		}
	}()
	time.Sleep(20 * time.Millisecond)
	return func() float64 {
		time.Sleep(20 * time.Millisecond)
		close(done)
		return <-result
	}
}

// liveness: the largest gap of a 1 ms ticker while another goroutine hogs for
// 0.5 s with a blocking sleep or a CPU loop (Go preempts both).
func liveness(kind string) map[string]float64 {
	const hog = 500 * time.Millisecond
	stop := startTicker()
	hogDone := make(chan struct{})
	go func() {
		if kind == "sleep" {
			time.Sleep(hog)
		} else if kind == "syscall" {
			nanosleep(hog)
		} else {
			end := time.Now().Add(hog)
			x := 0
			for time.Now().Before(end) {
				x++
			}
			_ = x
		}
		close(hogDone)
	}()
	<-hogDone
	return map[string]float64{"gap_ms": stop() * 1e3}
}

// nanosleep blocks the thread in a raw nanosleep(2): a blocking system call
// (Go's runtime wraps it in entersyscall/exitsyscall, as gosched.syscall does).
func nanosleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}

// crowd: a 1 ms ticker's largest gap while `callers` goroutines each make
// `rounds` blocking nanosleep(2) calls of `callMS` ms, with GOMAXPROCS 1.
func crowd(callers, rounds int, callMS float64) map[string]float64 {
	runtime.GOMAXPROCS(1)
	stop := startTicker()
	t0 := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				nanosleep(time.Duration(callMS * 1e6))
			}
		}()
	}
	wg.Wait()
	wall := time.Since(t0).Seconds()
	return map[string]float64{"gap_ms": stop() * 1e3, "wall_ms": wall * 1e3}
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}
