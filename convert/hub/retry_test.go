package hub

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mlxconv/mlxconv/convert/hub/hubtest"
)

// countingTransport counts round trips (attempts, redirects included)
// before handing them to next.
type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// A failure retrying cannot fix is returned after one attempt, with no
// retry event; the budget of MaxRetries would otherwise be spent.
func TestPermanentNetworkErrorsAreNotRetried(t *testing.T) {
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the untrusted TLS server got a request: %s", r.URL)
	}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake errors are the point
	tlsSrv.StartTLS()
	defer tlsSrv.Close()

	// The resolver-independent "no such host": the dialer answers as the
	// resolver does for a name that does not exist.
	noSuchHost := defaultTransport()
	noSuchHost.DialContext = func(_ context.Context, _, addr string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}}
	}

	cases := []struct {
		name      string
		endpoint  string
		transport *http.Transport
		want      error
	}{
		{"no such host (dialer)", "https://hub.example", noSuchHost, ErrUnreachable},
		{"no such host (.invalid)", "https://nonexistent.invalid", defaultTransport(), ErrUnreachable},
		{"refused on loopback", "http://" + closedPort(t), defaultTransport(), ErrUnreachable},
		{"untrusted certificate", tlsSrv.URL, defaultTransport(), ErrTLS},
		{"plain http server spoken to in TLS", "https://" + closedPortServing(t), defaultTransport(), ErrTLS},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var events []Event
			ct := &countingTransport{next: tc.transport}
			c, err := New(Options{
				Endpoint: tc.endpoint, Getenv: func(string) string { return "" }, CacheDir: t.TempDir(),
				HTTPClient: &http.Client{Transport: ct},
				MaxRetries: 5, RetryBase: time.Hour, // a retry would hang the test
				Progress: func(e Event) { events = append(events, e) },
			})
			require.NoError(t, err)
			// A retry would sleep an hour; the deadline turns that into a
			// failure rather than a hang.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err = c.ModelInfo(ctx, "org/name", "main")
			require.ErrorIs(t, err, tc.want)
			assert.Equal(t, int32(1), ct.n.Load(), "attempts")
			assert.Empty(t, events, "no retry was announced")

			// Download falls back to the cache, which is empty: the same
			// error, at once.
			_, err = c.Download(ctx, "org/name", "", DownloadOptions{})
			require.ErrorIs(t, err, tc.want)
			assert.Equal(t, int32(2), ct.n.Load(), "attempts")
		})
	}
}

// closedPortServing returns the address of a plain-HTTP server (a TLS
// client gets a tls.RecordHeaderError from it).
func closedPortServing(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func TestPermanentNetError(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tc := range []struct {
		name string
		url  string
		err  error
		want error
	}{
		{"dns not found", "https://x.invalid/a", &net.DNSError{Err: "no such host", IsNotFound: true}, ErrUnreachable},
		{"dns temporary", "https://huggingface.co/a", &net.DNSError{Err: "server misbehaving", IsTemporary: true}, nil},
		{"refused loopback", "http://127.0.0.1:9/a", refused, ErrUnreachable},
		{"refused localhost", "http://localhost:9/a", refused, ErrUnreachable},
		{"refused ipv6 loopback", "http://[::1]:9/a", refused, ErrUnreachable},
		{"refused remote is transient", "https://huggingface.co/a", refused, nil},
		{"reset is transient", "https://huggingface.co/a", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, nil},
		{"timeout is transient", "https://huggingface.co/a", context.DeadlineExceeded, nil},
		{"unexpected EOF is transient", "https://huggingface.co/a", errors.New("unexpected EOF"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, permanentNetError(tc.url, tc.err))
		})
	}
}

// HTTP statuses: 4xx (but 408 and 429) are answered once; 5xx, 408 and
// 429 are retried up to MaxRetries, and the retry events carry the
// loop's budget so the command can announce it once.
func TestHTTPStatusRetries(t *testing.T) {
	const retries = 3
	for _, tc := range []struct {
		status   int
		attempts int
	}{
		{400, 1}, {401, 1}, {403, 1}, {404, 1}, {410, 1}, {422, 1},
		{408, retries + 1}, {429, retries + 1}, {500, retries + 1}, {502, retries + 1}, {503, retries + 1},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			e := newEnv(t)
			e.hub.AddRepo("org/tiny", tinyRepo())
			e.hub.AddFault(hubtest.Fault{Endpoint: hubtest.EndpointInfo, Status: tc.status})
			c := e.client(t, func(o *Options) { o.MaxRetries = retries })
			_, err := c.ModelInfo(context.Background(), "org/tiny", "main")
			var he *HTTPError
			require.ErrorAs(t, err, &he)
			assert.Equal(t, tc.status, he.Status)
			assert.Equal(t, tc.attempts, e.hub.Count(hubtest.EndpointInfo, ""), "requests")
			var n []int
			for _, ev := range e.events {
				require.Equal(t, EventRetry, ev.Kind)
				assert.Equal(t, retries, ev.Retries)
				assert.Equal(t, c.retryBudget(), ev.Budget)
				n = append(n, ev.Retry)
			}
			if tc.attempts > 1 {
				assert.Equal(t, []int{1, 2, 3}, n)
			} else {
				assert.Empty(t, n)
			}
		})
	}
}

func TestRetryBudget(t *testing.T) {
	c, err := New(Options{Getenv: func(string) string { return "" }, CacheDir: t.TempDir()})
	require.NoError(t, err)
	assert.Equal(t, 31*time.Second, c.retryBudget(), "defaults: 5 retries, 1 s doubling")
	c, err = New(Options{Getenv: func(string) string { return "" }, CacheDir: t.TempDir(), MaxRetries: 8, MaxRetryWait: 10 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, (1+2+4+8+10+10+10+10)*time.Second, c.retryBudget())
}

// HF_HUB_OFFLINE answers from the cache without a single request.
func TestOfflineMakesNoRequest(t *testing.T) {
	e := newEnv(t)
	e.hub.AddRepo("org/tiny", tinyRepo())
	e.env["HF_HUB_OFFLINE"] = "1"
	c := e.client(t)
	_, err := c.Download(context.Background(), "org/tiny", "", DownloadOptions{})
	require.ErrorIs(t, err, ErrOffline)
	assert.Empty(t, e.hub.Requests())
}
