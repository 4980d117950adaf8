package agent

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/klptest/klptest/wire"
	"golang.org/x/sys/unix"
)

// kmsg reads /dev/kmsg without blocking: each read returns one record.
// lost counts the records the ring overwrote before they were read.
type kmsg struct {
	fd   int
	last uint64
	lost int
}

func openKmsg() (*kmsg, error) {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/kmsg: %w", err)
	}
	return &kmsg{fd: fd}, nil
}

// drain returns every record not read yet.
func (k *kmsg) drain() []wire.KmsgLine {
	var out []wire.KmsgLine
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(k.fd, buf)
		if errors.Is(err, unix.EPIPE) {
			continue // records overwritten before we read them
		}
		if err != nil || n <= 0 {
			return out
		}
		if l, ok := ParseKmsg(string(buf[:n])); ok {
			if k.last != 0 && l.Seq > k.last+1 {
				k.lost += int(l.Seq - k.last - 1)
			}
			k.last = l.Seq
			out = append(out, l)
		}
	}
}

// ParseKmsg parses one /dev/kmsg record: "PRIO,SEQ,TS,FLAGS;MSG\n"
// followed by optional continuation lines, which are dropped.
func ParseKmsg(rec string) (wire.KmsgLine, bool) {
	head, msg, ok := strings.Cut(rec, ";")
	if !ok {
		return wire.KmsgLine{}, false
	}
	f := strings.Split(head, ",")
	if len(f) < 3 {
		return wire.KmsgLine{}, false
	}
	prio, err1 := strconv.Atoi(f[0])
	seq, err2 := strconv.ParseUint(f[1], 10, 64)
	ts, err3 := strconv.ParseUint(f[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return wire.KmsgLine{}, false
	}
	msg, _, _ = strings.Cut(msg, "\n")
	return wire.KmsgLine{Seq: seq, TS: ts, Prio: prio & 7, Msg: msg}, true
}
