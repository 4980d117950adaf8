package runner

import (
	"context"
	"sync"
)

// Schedule says how many jobs run at once: klptest run --repeat's runs,
// klptest matrix's cells.
type Schedule struct {
	// Jobs is how many run at once; less than 1 is 1.
	Jobs int
	// FirstAlone runs job 0 by itself before any other starts: it fills
	// the caches the others then find, and a kernel or build that fails
	// fails it alone.
	FirstAlone bool
}

// Run runs job(0) to job(n-1), in that order, up to s.Jobs at once. No job
// starts once ctx is done, or once a job has returned stop or an error;
// the jobs under way run to their end. It returns the error of the first
// job, by index, that returned one.
func (s Schedule) Run(ctx context.Context, n int, job func(i int) (stop bool, err error)) error {
	var (
		mu      sync.Mutex
		stopped bool
		errAt   = n
		first   error
	)
	halted := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return stopped || ctx.Err() != nil
	}
	do := func(i int) {
		if halted() {
			return
		}
		stop, err := job(i)
		mu.Lock()
		defer mu.Unlock()
		if err != nil && i < errAt {
			errAt, first = i, err
		}
		stopped = stopped || stop || err != nil
	}
	i := 0
	if s.FirstAlone && n > 0 {
		do(0)
		i = 1
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(max(s.Jobs, 1), n-i) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				do(j)
			}
		}()
	}
	for ; i < n && !halted(); i++ {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	return first
}
