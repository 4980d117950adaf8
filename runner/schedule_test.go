package runner

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"
)

// jobLog records what a schedule's jobs did.
type jobLog struct {
	mu       sync.Mutex
	started  []int
	running  int
	most     int
	zeroDone bool // job 0 has ended
	badFirst bool // a job started before job 0 ended
}

func (l *jobLog) job(stopAt, failAt int) func(int) (bool, error) {
	return func(i int) (bool, error) {
		l.mu.Lock()
		l.started = append(l.started, i)
		l.running++
		l.most = max(l.most, l.running)
		if i > 0 && !l.zeroDone {
			l.badFirst = true
		}
		l.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		l.mu.Lock()
		l.running--
		if i == 0 {
			l.zeroDone = true
		}
		l.mu.Unlock()
		if i == failAt {
			return false, errors.New("job failed")
		}
		return i == stopAt, nil
	}
}

func TestSchedule(t *testing.T) {
	for _, tc := range []struct {
		name           string
		s              Schedule
		n              int
		stopAt, failAt int
		started        []int // sorted
		most           int
		err            bool
	}{
		{"one at a time", Schedule{Jobs: 1}, 4, -1, -1, []int{0, 1, 2, 3}, 1, false},
		{"zero jobs is one", Schedule{}, 3, -1, -1, []int{0, 1, 2}, 1, false},
		{"three at once", Schedule{Jobs: 3}, 9, -1, -1, []int{0, 1, 2, 3, 4, 5, 6, 7, 8}, 3, false},
		{"more jobs than work", Schedule{Jobs: 8}, 2, -1, -1, []int{0, 1}, 2, false},
		{"first alone", Schedule{Jobs: 3, FirstAlone: true}, 7, -1, -1, []int{0, 1, 2, 3, 4, 5, 6}, 3, false},
		{"first alone stops all", Schedule{Jobs: 3, FirstAlone: true}, 5, 0, -1, []int{0}, 1, false},
		{"first alone fails all", Schedule{Jobs: 3, FirstAlone: true}, 5, -1, 0, []int{0}, 1, true},
		{"a stop starts no more", Schedule{Jobs: 1}, 5, 2, -1, []int{0, 1, 2}, 1, false},
		{"an error starts no more", Schedule{Jobs: 1}, 5, -1, 1, []int{0, 1}, 1, true},
		{"nothing to do", Schedule{Jobs: 2, FirstAlone: true}, 0, -1, -1, nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l jobLog
			err := tc.s.Run(context.Background(), tc.n, l.job(tc.stopAt, tc.failAt))
			if (err != nil) != tc.err {
				t.Errorf("err = %v, want an error: %v", err, tc.err)
			}
			got := append([]int(nil), l.started...)
			sort.Ints(got)
			if !reflect.DeepEqual(got, tc.started) {
				t.Errorf("started %v, want %v", got, tc.started)
			}
			if l.most != tc.most {
				t.Errorf("at most %d at once, want %d", l.most, tc.most)
			}
			if tc.s.FirstAlone && l.badFirst {
				t.Errorf("a job started while the first one ran")
			}
			if tc.s.Jobs <= 1 && !sort.IntsAreSorted(l.started) {
				t.Errorf("one at a time out of order: %v", l.started)
			}
		})
	}
}

// Interrupted: no job starts, and those under way end.
func TestScheduleInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var started []int
	err := Schedule{Jobs: 2, FirstAlone: true}.Run(ctx, 10, func(i int) (bool, error) {
		mu.Lock()
		started = append(started, i)
		mu.Unlock()
		if i == 2 {
			cancel()
		}
		return false, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Ints(started)
	// 1 and 2 may be under way together, and 3 taken just before 2
	// cancels; none after.
	if len(started) < 3 || len(started) > 4 || started[len(started)-1] > 3 {
		t.Errorf("started %v after an interrupt at job 2", started)
	}
}

// The first error, by index, is the one returned.
func TestScheduleFirstError(t *testing.T) {
	err := Schedule{Jobs: 4}.Run(context.Background(), 4, func(i int) (bool, error) {
		time.Sleep(time.Duration(4-i) * 5 * time.Millisecond) // the later end first
		if i >= 1 {
			return false, errors.New([]string{"", "one", "two", "three"}[i])
		}
		return false, nil
	})
	if err == nil || err.Error() != "one" {
		t.Errorf("err = %v, want job 1's", err)
	}
}
