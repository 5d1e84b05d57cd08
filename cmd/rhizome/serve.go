package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/rhizome-data/rhizome/internal/config"
	"github.com/rhizome-data/rhizome/internal/s3api"
	"github.com/rhizome-data/rhizome/internal/store"
)

// credentialsFile is where serve keeps the generated access key, in the
// store directory, in the AWS shared-credentials format.
const credentialsFile = "s3-credentials"

// credentialsProfile is the profile name in credentialsFile.
const credentialsProfile = "rhizome"

func newServe(g *globals) *cobra.Command {
	var listen, tlsCert, tlsKey, logFormat, expiry string
	var domains []string
	var shutdownTimeout time.Duration
	c := &cobra.Command{
		Use:   "serve [--listen ADDR] [--tls-cert FILE --tls-key FILE]",
		Short: "Run the S3-compatible gateway over the store",
		Long: `Serve the store over the S3 API, so that S3 clients and data tools (aws CLI,
boto3, the AWS SDKs, rclone, Spark, DuckDB) use it by pointing their endpoint
at Rhizome. Path-style and virtual-hosted-style (--domain) requests work.

Credentials come from the config's server.users; else from
RHIZOME_ACCESS_KEY and RHIZOME_SECRET_KEY; else a pair is generated on first
start and saved (mode 0600) in the store directory as s3-credentials, in the
AWS shared-credentials format (profile "rhizome").

Read-only time-travel views: BUCKET--at-YYYYMMDDtHHMMSSz (e.g.
lake--at-20261122t100000z) is BUCKET as it was at that time (UTC), and
BUCKET--cp-NAME is BUCKET when its checkpoint NAME was taken.

Unsigned GET /health (live), /ready (enough backends for reads and writes)
and /metrics (Prometheus) are served on the same address. SIGINT or SIGTERM
stops accepting connections and finishes the requests in flight.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), g, serveFlags{
				listen: listen, tlsCert: tlsCert, tlsKey: tlsKey, domains: domains,
				logFormat: logFormat, expiry: expiry, shutdownTimeout: shutdownTimeout,
				set: func(name string) bool { return cmd.Flags().Changed(name) },
			})
		},
	}
	c.Flags().StringVar(&listen, "listen", "", "address to listen on (default server.listen, 127.0.0.1:9000)")
	c.Flags().StringVar(&tlsCert, "tls-cert", "", "TLS certificate file (PEM); serve HTTPS")
	c.Flags().StringVar(&tlsKey, "tls-key", "", "TLS private key file (PEM)")
	c.Flags().StringSliceVar(&domains, "domain", nil, "domain for virtual-hosted-style requests (BUCKET.DOMAIN); repeatable")
	c.Flags().StringVar(&logFormat, "log-format", "text", "access log format on stderr: text, json or off")
	c.Flags().StringVar(&expiry, "upload-expiry", "", "remove multipart uploads unfinished after this long (default server.upload_expiry, 24h)")
	c.Flags().DurationVar(&shutdownTimeout, "shutdown-timeout", 2*time.Minute, "how long a shutdown waits for requests in flight")
	return c
}

type serveFlags struct {
	listen, tlsCert, tlsKey string
	domains                 []string
	logFormat, expiry       string
	shutdownTimeout         time.Duration
	set                     func(flag string) bool
}

func runServe(ctx context.Context, g *globals, f serveFlags) error {
	var logger *slog.Logger
	switch f.logFormat {
	case "text":
		logger = slog.New(slog.NewTextHandler(g.stderr, nil))
	case "json":
		logger = slog.New(slog.NewJSONHandler(g.stderr, nil))
	case "off":
		logger = slog.New(slog.DiscardHandler)
	default:
		return usageErr("--log-format %q: use text, json or off", f.logFormat)
	}
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	sc := cfg.Server
	listen := pick(f.set("listen"), f.listen, sc.Listen)
	certFile, keyFile := sc.TLSCert, sc.TLSKey
	if certFile != "" {
		certFile = cfg.Resolve(certFile)
	}
	if keyFile != "" {
		keyFile = cfg.Resolve(keyFile)
	}
	certFile, keyFile = pick(f.set("tls-cert"), f.tlsCert, certFile), pick(f.set("tls-key"), f.tlsKey, keyFile)
	if (certFile == "") != (keyFile == "") {
		return usageErr("TLS needs both a certificate and a key (--tls-cert and --tls-key, or server.tls_cert and server.tls_key)")
	}
	expiry, err := time.ParseDuration(pick(f.set("upload-expiry"), f.expiry, cmpOr(sc.UploadExpiry, "24h")))
	if err != nil || expiry <= 0 {
		return usageErr("upload expiry %q: use a positive Go duration such as 24h", cmpOr(f.expiry, sc.UploadExpiry))
	}
	domains := sc.Domains
	if f.set("domain") {
		domains = f.domains
	}
	users, credNote, err := serveUsers(cfg, g.storeDir())
	if err != nil {
		return err
	}

	var collector *s3api.StoreCollector
	st, err := store.Open(ctx, cfg, &store.Options{Logger: logger, OnAlert: func(a store.Alert) {
		if collector != nil {
			collector.OnAlert(a)
		}
	}})
	if err != nil {
		return err
	}
	defer st.Close()
	reg := prometheus.NewRegistry()
	collector = s3api.NewStoreCollector(st)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collector)
	srv, err := s3api.New(st, &s3api.Options{Users: users, Domains: domains, Region: sc.Region, Logger: logger, Registry: reg})
	if err != nil {
		return &exitError_{code: exitUsage, err: err}
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return usageErr("cannot listen on %s: %v", listen, err)
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    s3api.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if certFile != "" {
		scheme = "https"
	}
	endpoint := scheme + "://" + endpointHost(ln.Addr().String())
	fmt.Fprintf(g.stdout, "rhizome: S3 gateway on %s (store %s)\n", endpoint, g.storeDir())
	fmt.Fprintf(g.stdout, "rhizome: credentials: %s\n", credNote)
	fmt.Fprintf(g.stdout, "rhizome: try: aws --endpoint-url %s s3 ls   (health: %s/health, ready: %s/ready, metrics: %s/metrics)\n",
		endpoint, endpoint, endpoint, endpoint)
	if rd := srv.Readiness(ctx); !rd.Ready {
		fmt.Fprintf(g.stderr, "rhizome: warning: only %d of %d backends reachable (reads need %d, writes %d): %s\n",
			rd.Reachable, rd.Backends, rd.ReadNeeds, rd.WriteNeeds, strings.Join(rd.Down, ", "))
	}

	cleanCtx, stopClean := context.WithCancel(context.WithoutCancel(ctx))
	cleanDone := make(chan struct{})
	go func() {
		defer close(cleanDone)
		cleanUploads(cleanCtx, st, expiry, logger)
	}()
	// Background scrub at the configured rate and interval; between scrubs
	// it drains the repair queue (damage seen by reads, under-protected
	// writes).
	scrubEvery, scrubRate, _ := cfg.Scrub()
	scrubDone := make(chan struct{})
	go func() {
		defer close(scrubDone)
		if err := st.ScrubLoop(cleanCtx, scrubRate, scrubEvery); err != nil && cleanCtx.Err() == nil {
			logger.Error("background scrub stopped", "component", "scrub", "err", err)
		}
	}()

	errc := make(chan error, 1)
	go func() {
		if certFile != "" {
			errc <- hs.ServeTLS(ln, certFile, keyFile)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		stopClean()
		<-cleanDone
		<-scrubDone
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	fmt.Fprintf(g.stderr, "rhizome: shutting down: finishing requests in flight (up to %s)\n", f.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.shutdownTimeout)
	defer cancel()
	err = hs.Shutdown(sctx)
	stopClean()
	<-cleanDone
	<-scrubDone
	if err != nil {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintln(g.stderr, "rhizome: stopped")
	return nil
}

// cleanUploads removes multipart uploads older than expiry, at start and
// then every expiry/4 (at most hourly), until ctx is done.
func cleanUploads(ctx context.Context, st *store.Store, expiry time.Duration, log *slog.Logger) {
	every := min(expiry/4, time.Hour)
	for {
		n, err := st.CleanUploads(ctx, expiry)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("multipart cleanup failed", "component", "s3", "err", err)
		case n > 0:
			log.Info("multipart uploads expired", "component", "s3", "uploads", n, "older_than", expiry)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// serveUsers returns the gateway's users and a note saying where their
// credentials come from: the config, the environment, or the generated
// credentials file in the store directory.
func serveUsers(cfg *config.Config, dir string) ([]s3api.User, string, error) {
	if len(cfg.Server.Users) > 0 {
		users, err := s3api.UsersFromConfig(cfg)
		if err != nil {
			return nil, "", &exitError_{code: exitUsage, err: err}
		}
		return users, fmt.Sprintf("%d user(s) from %s (server.users)", len(users), filepath.Join(dir, config.FileName)), nil
	}
	all := map[string]s3api.Access{"*": s3api.WriteAccess}
	ak, sk := os.Getenv("RHIZOME_ACCESS_KEY"), os.Getenv("RHIZOME_SECRET_KEY")
	switch {
	case ak != "" && sk != "":
		return []s3api.User{{AccessKey: ak, SecretKey: sk, Buckets: all}},
			"access key " + ak + " from RHIZOME_ACCESS_KEY / RHIZOME_SECRET_KEY", nil
	case ak != "" || sk != "":
		return nil, "", usageErr("set both RHIZOME_ACCESS_KEY and RHIZOME_SECRET_KEY, or neither")
	}
	path := filepath.Join(dir, credentialsFile)
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	ak, sk, err := readCredentials(path)
	note := fmt.Sprintf("access key %s, secret in %s; use it with AWS_SHARED_CREDENTIALS_FILE=%s AWS_PROFILE=%s", ak, path, path, credentialsProfile)
	switch {
	case err == nil:
	case errors.Is(err, os.ErrNotExist):
		ak, sk = "RZ"+randomString(18, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
			randomString(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
		content := fmt.Sprintf("# S3 credentials of `rhizome serve` for this store, generated on first start.\n"+
			"# Use with: AWS_SHARED_CREDENTIALS_FILE=%s AWS_PROFILE=%s\n[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
			path, credentialsProfile, credentialsProfile, ak, sk)
		if err := writeFileExclusive(path, []byte(content), 0o600); err != nil {
			return nil, "", fmt.Errorf("serve: saving generated credentials: %w", err)
		}
		note = fmt.Sprintf("generated access key %s; the pair is saved in %s (mode 0600); use it with AWS_SHARED_CREDENTIALS_FILE=%s AWS_PROFILE=%s",
			ak, path, path, credentialsProfile)
	default:
		return nil, "", &exitError_{code: exitUsage, err: err}
	}
	return []s3api.User{{AccessKey: ak, SecretKey: sk, Buckets: all}}, note, nil
}

// readCredentials reads the access key and secret of the rhizome profile
// from an AWS shared-credentials file.
func readCredentials(path string) (ak, sk string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return "", "", fmt.Errorf("serve: %s is readable by other users (mode %04o); run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[] ")
		case section == credentialsProfile:
			k, v, _ := strings.Cut(line, "=")
			switch strings.TrimSpace(k) {
			case "aws_access_key_id":
				ak = strings.TrimSpace(v)
			case "aws_secret_access_key":
				sk = strings.TrimSpace(v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", fmt.Errorf("serve: reading %s: %w", path, err)
	}
	if ak == "" || sk == "" {
		return "", "", fmt.Errorf("serve: %s has no [%s] profile with aws_access_key_id and aws_secret_access_key; fix or remove it to generate a new pair", path, credentialsProfile)
	}
	return ak, sk, nil
}

func writeFileExclusive(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// randomString returns n characters drawn uniformly from alphabet.
func randomString(n int, alphabet string) string {
	limit := 256 - 256%len(alphabet) // reject bytes that would bias the draw
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		if _, err := rand.Read(buf[:]); err != nil {
			panic("serve: crypto/rand failed: " + err.Error())
		}
		for _, c := range buf {
			if int(c) < limit && len(out) < n {
				out = append(out, alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// endpointHost turns a listener address into one a client can dial: an
// unspecified address (0.0.0.0, ::) becomes 127.0.0.1.
func endpointHost(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func pick(useFlag bool, flag, fallback string) string {
	if useFlag {
		return flag
	}
	return fallback
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
