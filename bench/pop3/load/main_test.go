package main

import (
	"bufio"
	"net"
	"strings"
	"testing"
)

func TestMessageSize(t *testing.T) {
	for _, size := range []int{smallSize, bigSize} {
		m := message("pop1@localhost", 3, size)
		if len(m) != size {
			t.Errorf("size %d: %d bytes", size, len(m))
		}
		if !strings.Contains(string(m), "\r\n.") {
			t.Errorf("size %d: no line starting with a dot", size)
		}
	}
}

// TestRetrieveCountsUnstuffed checks that retrieve counts the message as
// sent (dot-stuffing removed, final dot excluded), also for a line longer
// than the read buffer.
func TestRetrieveCountsUnstuffed(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	long := strings.Repeat("y", 100<<10) + "\r\n"
	body := "Subject: x\r\n\r\n..dot\r\n" + long + "end\r\n"
	want := int64(len("Subject: x\r\n\r\n.dot\r\n") + len(long) + len("end\r\n"))
	go func() {
		r := bufio.NewReader(server)
		r.ReadString('\n')
		server.Write([]byte("+OK\r\n" + body + ".\r\n"))
	}()
	s := &session{conn: client, r: bufio.NewReaderSize(client, 64<<10)}
	got, err := s.retrieve(1)
	if err != nil || got != want {
		t.Fatalf("retrieve = %d, %v; want %d", got, err, want)
	}
}
