package netlimit

import (
	"bufio"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestAcquireLimits(t *testing.T) {
	l := New(3, 2)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	r1, r := l.Acquire(a)
	if r != Accepted {
		t.Fatal("first connection refused")
	}
	_, r = l.Acquire(a)
	if r != Accepted {
		t.Fatal("second connection from a refused")
	}
	if _, r = l.Acquire(a); r != TooManyFromIP {
		t.Fatalf("third from a: %v, want TooManyFromIP", r)
	}
	if _, r = l.Acquire(b); r != Accepted {
		t.Fatal("first from b refused")
	}
	if _, r = l.Acquire(b); r != TooManyTotal {
		t.Fatalf("fourth overall: %v, want TooManyTotal", r)
	}
	r1()
	r1() // twice is harmless
	if l.Open() != 2 {
		t.Fatalf("open = %d after one release, want 2", l.Open())
	}
	if _, r = l.Acquire(b); r != Accepted {
		t.Fatal("a freed place was not reused")
	}
}

func TestWrapRejectsOverLimit(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := Wrap(inner, New(10, 1), func(c net.Conn, r Reason) {
		c.Write([]byte("busy\r\n"))
	})
	defer ln.Close()
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	c1, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	s1 := <-accepted
	c2, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c2).ReadString('\n')
	if err != nil || line != "busy\r\n" {
		t.Fatalf("second connection from one IP got %q, %v; want the busy line", line, err)
	}
	s1.Close()
	c3, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("connection after release was not accepted")
	}
}
