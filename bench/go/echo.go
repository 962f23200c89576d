package main

import (
	"fmt"
	"io"
	"net"
	"os"
)

// echoServer is the idiomatic Go echo server (one goroutine per connection),
// driven by bench/echo's C load generator: prints "READY <port>", serves until killed.
func echoServer() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("READY %d\n", ln.Addr().(*net.TCPAddr).Port)
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go func(c net.Conn) {
			defer c.Close()
			_, _ = io.CopyBuffer(c, c, make([]byte, 65536))
		}(c)
	}
}
