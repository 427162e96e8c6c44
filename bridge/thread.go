package bridge

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// thread runs functions one at a time on a single goroutine locked to its
// OS thread. MLX >= 0.31.2 keeps streams and command encoders per thread, so
// every call into a library and every use of its handles go through one
// thread. The lock is never undone: when the goroutine ends, the OS thread
// ends with it, together with MLX's thread-local state.
type thread struct {
	calls chan func()
	quit  chan struct{}
	done  chan struct{}
}

func startThread() *thread {
	t := &thread{calls: make(chan func()), quit: make(chan struct{}), done: make(chan struct{})}
	go t.loop()
	return t
}

func (t *thread) loop() {
	runtime.LockOSThread()
	defer close(t.done)
	for {
		select {
		case fn := <-t.calls:
			fn()
		case <-t.quit:
			return
		}
	}
}

// do runs fn on the thread and waits for it. It returns ErrClosed if the
// thread was stopped, fn's error otherwise. A panic in fn is recovered on
// the thread and returned as an error wrapping ErrPanic, with the stack.
func (t *thread) do(fn func() error) error {
	var err error
	finished := make(chan struct{})
	call := func() {
		defer close(finished)
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%w: %v\n%s", ErrPanic, r, debug.Stack())
			}
		}()
		err = fn()
	}
	select {
	case t.calls <- call:
	case <-t.quit:
		return ErrClosed
	}
	<-finished
	return err
}

// stop ends the thread after the call in progress, if any. Later do calls
// return ErrClosed. stop must be called once.
func (t *thread) stop() {
	close(t.quit)
	<-t.done
}
