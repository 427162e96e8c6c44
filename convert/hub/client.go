package hub

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mlxconv/mlxconv/internal/fsx"
)

// DefaultEndpoint is the public Hub.
const DefaultEndpoint = "https://huggingface.co"

// Options configures a Client. Zero values take the environment (through
// Getenv) and then huggingface_hub's defaults, so tests can inject every
// input and never touch the real environment or network.
type Options struct {
	// Endpoint overrides HF_ENDPOINT (default https://huggingface.co). It
	// must be https, or http on a loopback host.
	Endpoint string
	// Token overrides HF_TOKEN / HUGGING_FACE_HUB_TOKEN / the token file
	// (HF_TOKEN_PATH, default $HF_HOME/token).
	Token string
	// CacheDir overrides HF_HUB_CACHE / HUGGINGFACE_HUB_CACHE /
	// $HF_HOME/hub (HF_HOME defaults to $XDG_CACHE_HOME/huggingface, then
	// ~/.cache/huggingface).
	CacheDir string
	// Offline forces offline mode; HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE)
	// set to 1/ON/YES/TRUE does too.
	Offline bool
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// HTTPClient is used for all requests; nil means a client with sane
	// transport timeouts. Its redirect policy is replaced (the client
	// follows redirects itself to control where the token goes).
	HTTPClient *http.Client
	// Progress receives transfer events; calls are serialized. Nil: none.
	Progress func(Event)
	// Workers bounds parallel file transfers (default 8).
	Workers int
	// MaxRetries bounds retries of one request on 429, 5xx and transient
	// network errors (default 5; negative means none).
	MaxRetries int
	// RetryBase is the first backoff delay, doubled per retry (default 1s).
	RetryBase time.Duration
	// MaxRetryWait caps one backoff delay, including a server's Retry-After
	// (default 60s).
	MaxRetryWait time.Duration
	// Timeout bounds an API call and the wait for a download's response
	// headers (default 30s).
	Timeout time.Duration
	// IdleTimeout aborts (and then resumes) a download that receives no
	// byte for this long (default HF_HUB_DOWNLOAD_TIMEOUT seconds, else 60s).
	IdleTimeout time.Duration
	// UserAgent is sent with every request (default "mlxconv").
	UserAgent string
}

// Client talks to one Hub endpoint and owns one cache directory. It is
// safe for concurrent use.
type Client struct {
	endpoint     *url.URL
	endpointStr  string
	token        string
	implicitTok  bool // token came from env/file, not Options
	noImplicit   bool // HF_HUB_DISABLE_IMPLICIT_TOKEN
	cacheDir     string
	offline      bool
	http         *http.Client
	workers      int
	maxRetries   int
	retryBase    time.Duration
	maxRetryWait time.Duration
	timeout      time.Duration
	idleTimeout  time.Duration
	userAgent    string

	progMu   sync.Mutex
	progress func(Event)
}

// New builds a Client from opts and the environment.
func New(opts Options) (*Client, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	c := &Client{
		workers:      opts.Workers,
		maxRetries:   opts.MaxRetries,
		retryBase:    opts.RetryBase,
		maxRetryWait: opts.MaxRetryWait,
		timeout:      opts.Timeout,
		idleTimeout:  opts.IdleTimeout,
		userAgent:    opts.UserAgent,
		progress:     opts.Progress,
	}
	c.applyDefaults(getenv)

	u, ep, err := resolveEndpoint(opts.Endpoint, getenv)
	if err != nil {
		return nil, err
	}
	c.endpoint, c.endpointStr = u, ep

	home := hfHome(getenv)
	c.cacheDir = resolveCacheDir(opts.CacheDir, home, getenv)

	c.offline = opts.Offline || isTrue(getenv("HF_HUB_OFFLINE")) || isTrue(getenv("TRANSFORMERS_OFFLINE"))
	c.noImplicit = isTrue(getenv("HF_HUB_DISABLE_IMPLICIT_TOKEN"))
	c.token = cleanToken(opts.Token)
	if c.token == "" {
		c.implicitTok = true
		c.token = implicitToken(home, getenv)
	}

	base := opts.HTTPClient
	if base == nil {
		base = &http.Client{Transport: defaultTransport()}
	}
	hc := *base
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.http = &hc
	return c, nil
}

// applyDefaults replaces unset (zero or negative) tuning options with their
// defaults; a negative MaxRetries means no retries. The idle timeout falls
// back to HF_HUB_DOWNLOAD_TIMEOUT (seconds) before the built-in minute.
func (c *Client) applyDefaults(getenv func(string) string) {
	if c.workers <= 0 {
		c.workers = 8
	}
	if c.maxRetries == 0 {
		c.maxRetries = 5
	} else if c.maxRetries < 0 {
		c.maxRetries = 0
	}
	if c.retryBase <= 0 {
		c.retryBase = time.Second
	}
	if c.maxRetryWait <= 0 {
		c.maxRetryWait = time.Minute
	}
	if c.timeout <= 0 {
		c.timeout = 30 * time.Second
	}
	if c.idleTimeout <= 0 {
		c.idleTimeout = envIdleTimeout(getenv)
	}
	if c.userAgent == "" {
		c.userAgent = "mlxconv"
	}
}

// envIdleTimeout is HF_HUB_DOWNLOAD_TIMEOUT as a duration when it is a
// sensible positive number of seconds, else one minute.
func envIdleTimeout(getenv func(string) string) time.Duration {
	if s := getenv("HF_HUB_DOWNLOAD_TIMEOUT"); s != "" {
		if v, err := strconv.ParseFloat(s, 64); err == nil && v > 0 && v < 1e6 {
			return time.Duration(v * float64(time.Second))
		}
	}
	return time.Minute
}

// resolveEndpoint picks the hub endpoint (option, then HF_ENDPOINT, then
// DefaultEndpoint), trims trailing slashes and checks it. It returns the
// parsed URL and the trimmed string.
func resolveEndpoint(opt string, getenv func(string) string) (*url.URL, string, error) {
	ep := firstNonEmpty(opt, getenv("HF_ENDPOINT"), DefaultEndpoint)
	ep = strings.TrimRight(ep, "/")
	u, err := url.Parse(ep)
	if err != nil {
		return nil, "", fmt.Errorf("%w: endpoint %q: %v", ErrInvalid, ep, err)
	}
	if err := checkEndpointURL(u); err != nil {
		return nil, "", fmt.Errorf("endpoint %s: %w", redactURL(ep), err)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, "", fmt.Errorf("%w: endpoint %s: must not have a query or fragment", ErrInvalid, redactURL(ep))
	}
	return u, ep, nil
}

// resolveCacheDir picks the hub cache directory (option, then HF_HUB_CACHE,
// then HUGGINGFACE_HUB_CACHE, then <home>/hub), expands ~ and makes it
// absolute when possible.
func resolveCacheDir(opt, home string, getenv func(string) string) string {
	dir := firstNonEmpty(opt, getenv("HF_HUB_CACHE"), getenv("HUGGINGFACE_HUB_CACHE"))
	if dir == "" {
		dir = filepath.Join(home, "hub")
	}
	dir = expandHome(dir, getenv)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return dir
}

// implicitToken is the token found in the environment (HF_TOKEN, then
// HUGGING_FACE_HUB_TOKEN) or, failing that, in the token file
// (HF_TOKEN_PATH, default <home>/token).
func implicitToken(home string, getenv func(string) string) string {
	if tok := cleanToken(firstNonEmpty(getenv("HF_TOKEN"), getenv("HUGGING_FACE_HUB_TOKEN"))); tok != "" {
		return tok
	}
	path := getenv("HF_TOKEN_PATH")
	if path == "" {
		path = filepath.Join(home, "token")
	}
	return readTokenFile(expandHome(path, getenv))
}

// CacheDir is the hub cache directory (…/huggingface/hub).
func (c *Client) CacheDir() string { return c.cacheDir }

// Endpoint is the Hub endpoint URL without a trailing slash.
func (c *Client) Endpoint() string { return c.endpointStr }

// Offline reports whether network access is disabled.
func (c *Client) Offline() bool { return c.offline }

// HasToken reports whether a token is configured (never the token itself).
func (c *Client) HasToken() bool { return c.token != "" }

func defaultTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

func hfHome(getenv func(string) string) string {
	if h := getenv("HF_HOME"); h != "" {
		return expandHome(h, getenv)
	}
	if x := getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(expandHome(x, getenv), "huggingface")
	}
	return filepath.Join(homeDir(getenv), ".cache", "huggingface")
}

func homeDir(getenv func(string) string) string {
	if h := getenv("HOME"); h != "" {
		return h
	}
	if h := getenv("USERPROFILE"); h != "" {
		return h
	}
	if h, err := os.UserHomeDir(); err == nil {
		return h
	}
	return "."
}

func expandHome(p string, getenv func(string) string) string {
	if p == "~" {
		return homeDir(getenv)
	}
	if strings.HasPrefix(p, "~/") || strings.HasPrefix(p, "~"+string(filepath.Separator)) {
		return filepath.Join(homeDir(getenv), p[2:])
	}
	return p
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// isTrue follows huggingface_hub: 1, ON, YES, TRUE (any case).
func isTrue(v string) bool {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "1", "ON", "YES", "TRUE":
		return true
	}
	return false
}

func cleanToken(t string) string {
	t = strings.ReplaceAll(t, "\r", "")
	t = strings.ReplaceAll(t, "\n", "")
	return strings.TrimSpace(t)
}

// readTokenFile reads the token huggingface_hub's login writes. A missing
// or unreadable file (or one that is not a regular file) means no token.
func readTokenFile(path string) string {
	f, err := fsx.OpenRegular(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return ""
	}
	return cleanToken(string(b))
}

// checkEndpointURL enforces TLS except for http on loopback, and refuses
// credentials in the URL.
func checkEndpointURL(u *url.URL) error {
	if u.User != nil {
		return fmt.Errorf("%w: credentials in the URL are not allowed (use HF_TOKEN)", ErrInsecureEndpoint)
	}
	if u.Host == "" {
		return fmt.Errorf("%w: no host", ErrInvalid)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%w: plain http is only allowed to a loopback host; use https", ErrInsecureEndpoint)
	}
	return fmt.Errorf("%w: scheme %q (want https)", ErrInsecureEndpoint, u.Scheme)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sameOrigin compares scheme, host and port (default ports filled in).
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// redactURL drops the query, fragment and user info: signed CDN URLs carry
// credentials in their query string.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if i := strings.IndexAny(s, "?#"); i >= 0 {
			return s[:i]
		}
		return s
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

// apiURL joins the endpoint and an already-escaped path.
func (c *Client) apiURL(path string) string { return c.endpointStr + path }

// call describes one logical request; do retries it as a whole.
type call struct {
	method string
	url    string
	header http.Header
	// body returns a fresh request body for each attempt (nil: none).
	body func() (io.ReadCloser, error)
	// length is the body's size when known (> 0); unknown bodies are sent
	// chunked, which presigned storage URLs refuse.
	length int64
	// idempotent requests are retried on network errors, others only on
	// 429/503 responses (which the server did not process).
	idempotent bool
	// auth sends the token (to the endpoint's origin only). write marks
	// requests that always need it (create repo, upload).
	auth, write bool
	// noTimeout leaves the body without the API timeout (downloads).
	noTimeout bool
	// stopAtForeignRedirect returns a redirect to another origin instead of
	// following it (HEAD metadata, like huggingface_hub).
	stopAtForeignRedirect bool
}

// response is a successful response plus what the redirect chain said.
type response struct {
	*http.Response
	first  http.Header // headers of the first (Hub) response
	cancel context.CancelFunc
}

func (r *response) Close() {
	if r.Body != nil {
		r.Body.Close()
	}
	if r.cancel != nil {
		r.cancel()
	}
}

const maxRedirects = 10

// do runs a call with retries and manual redirects. On success the caller
// must Close the response. Errors are *HTTPError or wrapped network errors.
func (c *Client) do(ctx context.Context, cl call) (*response, error) {
	if c.offline {
		return nil, fmt.Errorf("%w: %s %s refused: HF_HUB_OFFLINE is set", ErrOffline, cl.method, redactURL(cl.url))
	}
	var lastErr error
	for attempt := 0; ; attempt++ {
		resp, err := c.once(ctx, cl)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			return nil, err
		}
		wait, retry := c.shouldRetry(cl, err, attempt)
		if !retry {
			return nil, err
		}
		c.emit(Event{Kind: EventRetry, Err: err, Retry: attempt + 1, Retries: c.maxRetries, Budget: c.retryBudget()})
		if err := sleepCtx(ctx, wait); err != nil {
			return nil, lastErr
		}
	}
}

// retryAfterError carries a server's Retry-After with an HTTP error.
type retryAfterError struct {
	*HTTPError
	after time.Duration
}

func (e *retryAfterError) Unwrap() error { return e.HTTPError }

func (c *Client) shouldRetry(cl call, err error, attempt int) (time.Duration, bool) {
	if attempt >= c.maxRetries {
		return 0, false
	}
	wait := c.retryBase << attempt
	if wait > c.maxRetryWait || wait <= 0 {
		wait = c.maxRetryWait
	}
	var he *HTTPError
	if errors.As(err, &he) {
		if !retryableStatus(he.Status, cl.idempotent) {
			return 0, false
		}
		var ra *retryAfterError
		if errors.As(err, &ra) && ra.after > 0 {
			wait = min(ra.after, c.maxRetryWait)
		}
		return wait, true
	}
	if isPermanent(err) {
		return 0, false
	}
	return wait, cl.idempotent
}

// retryableStatus reports whether an HTTP error status is worth another
// attempt: 429 and 503 always (the server did not process the request),
// 408 and other 5xx (but 501) only for idempotent requests.
func retryableStatus(status int, idempotent bool) bool {
	switch {
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		return true
	case status == http.StatusRequestTimeout || status >= 500 && status != http.StatusNotImplemented:
		return idempotent
	default:
		return false
	}
}

// permanentErrors are the non-HTTP failures that another attempt cannot fix.
var permanentErrors = []error{ErrInsecureEndpoint, ErrFormat, ErrInvalid, ErrUnreachable, ErrTLS}

// isPermanent reports whether err is one of permanentErrors.
func isPermanent(err error) bool {
	for _, target := range permanentErrors {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// retryBudget is how long a retry loop waits in all when every retry
// backs off the full delay (no Retry-After): 1+2+4+8+16 s by default.
func (c *Client) retryBudget() time.Duration {
	var d time.Duration
	for k := 0; k < c.maxRetries; k++ {
		w := c.retryBase << k
		if w > c.maxRetryWait || w <= 0 {
			w = c.maxRetryWait
		}
		d += w
	}
	return d
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// once makes one attempt of cl, following redirects. On success the
// response holds the request context's cancel; on error it is cancelled.
func (c *Client) once(ctx context.Context, cl call) (*response, error) {
	var rctx context.Context
	var cancel context.CancelFunc
	if cl.noTimeout {
		rctx, cancel = context.WithCancel(ctx)
	} else {
		rctx, cancel = context.WithTimeout(ctx, c.timeout)
	}
	resp, first, err := c.follow(ctx, rctx, cl)
	if err != nil {
		cancel()
		return nil, err
	}
	return &response{Response: resp, first: first, cancel: cancel}, nil
}

// follow sends cl in rctx and follows redirects until a 2xx response, a
// foreign redirect the call asked to stop at (returned without body), or an
// error. first is the first response's header. ctx is the caller's context,
// to tell its cancellation from the per-request timeout.
func (c *Client) follow(ctx, rctx context.Context, cl call) (resp *http.Response, first http.Header, err error) {
	target, err := url.Parse(cl.url)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: url %q: %v", ErrInvalid, redactURL(cl.url), err)
	}
	method := cl.method
	for hop := 0; ; hop++ {
		resp, sentToken, err := c.send(ctx, rctx, cl, method, target)
		if err != nil {
			return nil, nil, err
		}
		if first == nil {
			first = resp.Header
		}
		if !isRedirect(resp.StatusCode) || resp.Header.Get("Location") == "" {
			if resp.StatusCode >= 200 && resp.StatusCode < 300 {
				return resp, first, nil
			}
			return nil, nil, c.statusError(method, target, resp, sentToken)
		}
		loc, err := nextHop(cl, resp, target, hop)
		if err != nil {
			return nil, nil, err
		}
		if loc == nil {
			resp.Body = http.NoBody
			return resp, first, nil
		}
		if resp.StatusCode == http.StatusSeeOther {
			method = http.MethodGet
		}
		target = loc
	}
}

// nextHop drains the redirect resp (from target, after hop earlier
// redirects) and returns where it points, or nil when the call stops at
// this foreign redirect.
func nextHop(cl call, resp *http.Response, target *url.URL, hop int) (*url.URL, error) {
	loc, err := target.Parse(resp.Header.Get("Location"))
	drain(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: redirect from %s: bad Location: %v", ErrFormat, redactURL(target.String()), err)
	}
	if cl.stopAtForeignRedirect && !sameOrigin(loc, target) {
		return nil, nil
	}
	if hop >= maxRedirects {
		return nil, fmt.Errorf("%w: too many redirects from %s", ErrFormat, redactURL(cl.url))
	}
	return loc, nil
}

// send makes one HTTP request of cl to target and reports whether it
// carried the token.
func (c *Client) send(ctx, rctx context.Context, cl call, method string, target *url.URL) (*http.Response, bool, error) {
	if err := checkEndpointURL(target); err != nil {
		return nil, false, fmt.Errorf("request to %s: %w", redactURL(target.String()), err)
	}
	req, sentToken, err := c.newRequest(rctx, cl, method, target)
	if err != nil {
		return nil, false, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			// The caller's cancellation or deadline, not the
			// per-request timeout: report it as such (not ErrTimeout,
			// which would be retried).
			return nil, false, fmt.Errorf("%s %s: %w", method, redactURL(target.String()), cerr)
		}
		return nil, false, c.netError(method, target.String(), err)
	}
	return resp, sentToken, nil
}

// newRequest builds the request of cl to target: a fresh body (not for GET
// or HEAD), the call's headers, User-Agent and, when allowed, the token.
func (c *Client) newRequest(rctx context.Context, cl call, method string, target *url.URL) (*http.Request, bool, error) {
	var body io.ReadCloser
	if cl.body != nil && (method != http.MethodGet && method != http.MethodHead) {
		var err error
		if body, err = cl.body(); err != nil {
			return nil, false, err
		}
	}
	req, err := http.NewRequestWithContext(rctx, method, target.String(), body)
	if err != nil {
		if body != nil {
			body.Close()
		}
		return nil, false, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if body != nil && cl.length > 0 {
		req.ContentLength = cl.length
	}
	for k, v := range cl.header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", c.userAgent)
	sentToken := c.sendsToken(cl, target)
	if sentToken {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, sentToken, nil
}

// sendsToken reports whether a request of cl to target carries the token:
// only to the endpoint's origin, always for writes, for other authenticated
// calls unless the token is implicit and implicit tokens are disabled.
func (c *Client) sendsToken(cl call, target *url.URL) bool {
	if c.token == "" || !sameOrigin(target, c.endpoint) {
		return false
	}
	return cl.write || (cl.auth && !(c.noImplicit && c.implicitTok))
}

// statusError consumes and closes the non-2xx resp and turns it into an
// *HTTPError, wrapped with the server's Retry-After when it sent one.
func (c *Client) statusError(method string, target *url.URL, resp *http.Response, sentToken bool) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	he := newHTTPError(method, target.String(), resp, b, sentToken, c.token)
	if ra := parseRetryAfter(resp.Header.Get("Retry-After")); ra > 0 {
		return &retryAfterError{HTTPError: he, after: ra}
	}
	return he
}

func isRedirect(s int) bool {
	switch s {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0
	}
	if n > 3600 {
		n = 3600
	}
	return time.Duration(n) * time.Second
}

func drain(r io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(r, 64<<10))
	r.Close()
}

// netError wraps a transport error with the method and redacted URL; a
// deadline becomes ErrTimeout. url.Error is unwrapped because its text
// repeats the full URL, query included.
func (c *Client) netError(method, rawURL string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s %s: %w: no response within %s", method, redactURL(rawURL), ErrTimeout, c.timeout)
	}
	if kind := permanentNetError(rawURL, err); kind != nil {
		return fmt.Errorf("%s %s: %w: %w", method, redactURL(rawURL), kind, err)
	}
	return fmt.Errorf("%s %s: %w", method, redactURL(rawURL), err)
}

// permanentNetError classifies a transport error that retrying cannot
// fix: ErrUnreachable for a host name that does not exist and for a
// refused connection to a loopback host (nothing listens there; a remote
// host may be restarting), ErrTLS for certificate and handshake failures.
// Anything else (timeouts, resets, a temporary DNS failure) is nil:
// transient.
func permanentNetError(rawURL string, err error) error {
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return ErrUnreachable
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		if u, perr := url.Parse(rawURL); perr == nil && isLoopback(u.Hostname()) {
			return ErrUnreachable
		}
		return nil
	}
	var (
		unknownCA  x509.UnknownAuthorityError
		hostname   x509.HostnameError
		invalid    x509.CertificateInvalidError
		verify     *tls.CertificateVerificationError
		header     tls.RecordHeaderError
		alert      tls.AlertError
		echReject  *tls.ECHRejectionError
		constraint x509.ConstraintViolationError
	)
	if errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &verify) || errors.As(err, &header) || errors.As(err, &alert) ||
		errors.As(err, &echReject) || errors.As(err, &constraint) ||
		// net/http turns the tls.RecordHeaderError of an http:// server
		// behind an https:// endpoint into this untyped error.
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return ErrTLS
	}
	return nil
}

// getJSON GETs an API URL and decodes at most limit bytes of JSON into v.
func (c *Client) getJSON(ctx context.Context, rawURL string, v any, limit int64) (http.Header, error) {
	resp, err := c.do(ctx, call{method: http.MethodGet, url: rawURL, idempotent: true, auth: true})
	if err != nil {
		return nil, err
	}
	defer resp.Close()
	return resp.Header, decodeJSON(resp.Body, v, limit, rawURL)
}

// postJSON POSTs a JSON payload and decodes the JSON answer (if v != nil).
func (c *Client) postJSON(ctx context.Context, rawURL string, header http.Header, payload, v any, idempotent bool) error {
	data, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	h := http.Header{"Content-Type": {"application/json"}}
	for k, vs := range header {
		h[k] = vs
	}
	resp, err := c.do(ctx, call{
		method: http.MethodPost, url: rawURL, header: h, idempotent: idempotent, auth: true, write: true,
		body:   func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		length: int64(len(data)),
	})
	if err != nil {
		return err
	}
	defer resp.Close()
	if v == nil {
		return nil
	}
	return decodeJSON(resp.Body, v, 64<<20, rawURL)
}

func decodeJSON(r io.Reader, v any, limit int64, rawURL string) error {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", redactURL(rawURL), err)
	}
	if int64(len(data)) > limit {
		return fmt.Errorf("%w: %s: response larger than %d bytes", ErrFormat, redactURL(rawURL), limit)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrFormat, redactURL(rawURL), err)
	}
	return nil
}
