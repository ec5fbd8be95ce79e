// Package netlimit caps simultaneous connections, in total and per client
// IP, for every listener of the server. Protocol servers wrap their
// net.Listener with Wrap: connections over a limit are answered with the
// protocol's own "too busy" line and closed, never handed to the server.
package netlimit

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Limiter counts open connections. One Limiter is shared by all listeners
// so the totals are server-wide. The zero value is not usable; use New.
type Limiter struct {
	max, perIP int

	mu    sync.Mutex
	total int
	byIP  map[netip.Addr]int
}

// New makes a limiter for at most max connections in all and perIP from one
// address; 0 means no limit.
func New(max, perIP int) *Limiter {
	return &Limiter{max: max, perIP: perIP, byIP: make(map[netip.Addr]int)}
}

// Reason says which limit refused a connection.
type Reason int

// Reasons for refusing.
const (
	Accepted Reason = iota
	TooManyTotal
	TooManyFromIP
)

// Acquire counts a connection from ip. When it returns Accepted, release
// must be called exactly once when the connection ends.
func (l *Limiter) Acquire(ip netip.Addr) (release func(), r Reason) {
	ip = ip.Unmap()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.total >= l.max {
		return nil, TooManyTotal
	}
	if l.perIP > 0 && l.byIP[ip] >= l.perIP {
		return nil, TooManyFromIP
	}
	l.total++
	l.byIP[ip]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if l.byIP[ip]--; l.byIP[ip] <= 0 {
				delete(l.byIP, ip)
			}
		})
	}, Accepted
}

// Open returns the number of connections counted now.
func (l *Limiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// RemoteIP returns the IP address of a connection's peer (the zero Addr if
// it is not TCP).
func RemoteIP(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// Wrap returns a listener whose Accept only returns connections within the
// limits. Refused connections get reject called (to write the protocol's
// refusal, with a short write deadline already set) and are closed.
// Accepted connections release their count when closed.
func Wrap(ln net.Listener, l *Limiter, reject func(c net.Conn, r Reason)) net.Listener {
	return &listener{Listener: ln, lim: l, reject: reject}
}

type listener struct {
	net.Listener
	lim    *Limiter
	reject func(net.Conn, Reason)
}

func (ln *listener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		release, r := ln.lim.Acquire(RemoteIP(c))
		if r == Accepted {
			return &conn{Conn: c, release: release}, nil
		}
		if ln.reject != nil {
			go func() {
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				ln.reject(c, r)
				c.Close()
			}()
		} else {
			c.Close()
		}
	}
}

// conn releases its count when closed.
type conn struct {
	net.Conn
	release func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// Unwrap returns the underlying connection.
func (c *conn) Unwrap() net.Conn { return c.Conn }
