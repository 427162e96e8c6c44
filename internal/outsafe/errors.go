package outsafe

import "errors"

// Sentinels matched by *Error with errors.Is.
var (
	// ErrOverlap: the output is, contains or is inside an input.
	ErrOverlap = errors.New("outsafe: output overlaps an input")
	// ErrExists: the output exists (without Force), or appeared during the
	// run.
	ErrExists = errors.New("outsafe: output exists")
	// ErrBusy: another process holds the output's lock.
	ErrBusy = errors.New("outsafe: output in use")
	// ErrNotOutput: Force was given but the existing path does not look like
	// a previous output of the same command.
	ErrNotOutput = errors.New("outsafe: not a previous output")
	// ErrPath: the output path cannot be created (a parent is a file).
	ErrPath = errors.New("outsafe: bad output path")
)

// Error is a refusal of this package: Msg is the one-line message (names
// quoted), Kind the sentinel it matches.
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Kind }

func refuse(kind error, msg string) *Error { return &Error{Kind: kind, Msg: msg} }
