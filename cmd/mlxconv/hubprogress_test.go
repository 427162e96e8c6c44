package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/convert/hub"
)

// A retry loop is announced once, with its budget; later retries of the
// same loop print nothing, and a hostile file name is escaped.
func TestHubProgressRetryBudgetOnce(t *testing.T) {
	var buf bytes.Buffer
	p := &hubProgress{w: &buf, now: time.Now}
	reason := errors.New("GET https://hub.example/api/models/a/b: 503 Service Unavailable")
	for i := 1; i <= 5; i++ {
		p.update(hub.Event{Kind: hub.EventRetry, Err: reason, Retry: i, Retries: 5, Budget: 31 * time.Second})
	}
	for i := 1; i <= 3; i++ {
		p.update(hub.Event{Kind: hub.EventRetry, File: "model\x1b[2J.safetensors", Err: reason, Retry: i, Retries: 5, Budget: 31 * time.Second})
	}
	p.update(hub.Event{Kind: hub.EventRetry, Err: errors.New("using the cached snapshot: offline")})
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	assert.Equal(t, []string{
		"mlxconv: hub: retrying (up to 6 attempts over ~31 s): GET https://hub.example/api/models/a/b: 503 Service Unavailable",
		`mlxconv: model\x1b[2J.safetensors: retrying (up to 6 attempts over ~31 s): GET https://hub.example/api/models/a/b: 503 Service Unavailable`,
		"mlxconv: hub: using the cached snapshot: offline",
	}, lines)
}

// On a terminal the redrawn line is cut to the width and cleared to the end.
func TestHubProgressWidth(t *testing.T) {
	var buf bytes.Buffer
	p := &hubProgress{w: &buf, tty: true, now: time.Now, width: func() int { return 40 }}
	p.update(hub.Event{Kind: hub.EventBytes, Phase: hub.PhaseDownload, File: "model-00001-of-00004.safetensors", Done: 123456789, Total: 987654321})
	out := buf.String()
	require.True(t, strings.HasPrefix(out, "\r") && strings.HasSuffix(out, "\x1b[K"), "%q", out)
	line := strings.TrimSuffix(strings.TrimPrefix(out, "\r"), "\x1b[K")
	assert.Equal(t, 39, utf8.RuneCountInString(line), "%q", line)
	assert.True(t, strings.HasSuffix(line, "…"), "%q", line)
}

// Bytes/s and ETA count from the phase's first draw.
func TestHubProgressRate(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	p := &hubProgress{w: &buf, tty: true, now: func() time.Time { return now }, width: func() int { return 200 }}
	p.update(hub.Event{Kind: hub.EventBytes, Phase: hub.PhaseDownload, File: "a", Done: 1e6, Total: 101e6})
	now = now.Add(2 * time.Second)
	p.update(hub.Event{Kind: hub.EventBytes, Phase: hub.PhaseDownload, File: "a", Done: 21e6, Total: 101e6})
	assert.Equal(t, "\rdownloading   0%  1.0 MB/101.0 MB  0 files  a\x1b[K"+
		"\rdownloading  20%  21.0 MB/101.0 MB  10.0 MB/s  ETA 0:08  0 files  a\x1b[K", buf.String())
}
