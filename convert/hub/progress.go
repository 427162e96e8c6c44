package hub

import "time"

// EventKind says what an Event reports.
type EventKind int

const (
	// EventStart: a file transfer (or hash) begins; FileSize is known
	// (or -1), FileDone is the resumed offset.
	EventStart EventKind = iota
	// EventBytes: FileDone bytes of File are done.
	EventBytes
	// EventDone: File finished and was verified (download) or accepted
	// (upload).
	EventDone
	// EventCached: File was already in the cache (or on the Hub, for
	// uploads) and was not transferred.
	EventCached
	// EventRetry: a request failed transiently and will be retried or
	// resumed; Err says why, Retry is the retry's number in its loop (1
	// for the first) and Retries and Budget the loop's limits, so a
	// caller can announce the budget once.
	EventRetry
	// EventPreflight: the small files are in place and the pre-flight
	// check runs before any weight is downloaded.
	EventPreflight
	// EventCommit: the upload commit is being created.
	EventCommit
)

// Phase says which operation an Event belongs to.
type Phase int

const (
	PhaseDownload Phase = iota
	PhaseHash
	PhaseUpload
)

// Event is one progress report. Done/Total aggregate the bytes of the
// current operation over all files still to transfer.
type Event struct {
	Kind     EventKind
	Phase    Phase
	File     string // repo path ("" for whole-operation events)
	FileDone int64
	FileSize int64 // -1 if unknown
	Done     int64
	Total    int64
	Err      error // EventRetry only
	// EventRetry only: this is retry number Retry (from 1) of at most
	// Retries, and the loop waits about Budget in all before giving up.
	Retry, Retries int
	Budget         time.Duration
}

// emit delivers e to the Progress callback, one call at a time.
func (c *Client) emit(e Event) {
	if c.progress == nil {
		return
	}
	c.progMu.Lock()
	defer c.progMu.Unlock()
	c.progress(e)
}
