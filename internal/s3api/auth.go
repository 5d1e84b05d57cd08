package s3api

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"strings"

	"github.com/rhizome-data/rhizome/internal/config"
	"github.com/rhizome-data/rhizome/internal/s3api/sigv4"
)

// Access is what a user may do in a bucket.
type Access int

// Access levels, each including the one before.
const (
	NoAccess Access = iota
	// ReadAccess lists, reads and copies from the bucket and its views.
	ReadAccess
	// WriteAccess also creates and deletes the bucket, writes objects,
	// delete markers and multipart uploads, and removes versions once
	// retention allows.
	WriteAccess
)

func (a Access) String() string {
	switch a {
	case ReadAccess:
		return "read"
	case WriteAccess:
		return "write"
	}
	return "none"
}

// User is one S3 identity: an access key, its secret and its grants.
type User struct {
	AccessKey string
	SecretKey string
	// Buckets maps a bucket name, or a pattern in path.Match syntax ("*",
	// "lake-*"), to the access granted. An exact name wins over patterns;
	// among patterns the strongest grant wins.
	Buckets map[string]Access
}

// Access returns what u may do in bucket.
func (u *User) Access(bucket string) Access {
	if a, ok := u.Buckets[bucket]; ok {
		return a
	}
	best := NoAccess
	for pat, a := range u.Buckets {
		if ok, _ := path.Match(pat, bucket); ok && a > best {
			best = a
		}
	}
	return best
}

// ErrUsers is wrapped by UsersFromConfig for an unusable users section.
var ErrUsers = errors.New("s3api: invalid server users")

// UsersFromConfig returns the users the config's server section defines,
// with secrets read from the config, the environment or files (relative
// paths resolve against the store directory).
func UsersFromConfig(cfg *config.Config) ([]User, error) {
	var users []User
	seen := map[string]bool{}
	for i, cu := range cfg.Server.Users {
		where := fmt.Sprintf("server.users[%d] (%s)", i, cu.AccessKey)
		if cu.AccessKey == "" {
			return nil, fmt.Errorf("%w: server.users[%d] has no access_key", ErrUsers, i)
		}
		if strings.ContainsAny(cu.AccessKey, "/ \t") {
			return nil, fmt.Errorf("%w: %s: access_key must not contain '/' or spaces", ErrUsers, where)
		}
		if seen[cu.AccessKey] {
			return nil, fmt.Errorf("%w: %s: access_key appears twice", ErrUsers, where)
		}
		seen[cu.AccessKey] = true
		secret, err := userSecret(cfg, cu)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrUsers, where, err)
		}
		if len(cu.Buckets) == 0 {
			return nil, fmt.Errorf("%w: %s grants no bucket; add buckets: {\"*\": write} or name the buckets with read or write", ErrUsers, where)
		}
		u := User{AccessKey: cu.AccessKey, SecretKey: secret, Buckets: map[string]Access{}}
		for b, a := range cu.Buckets {
			if _, err := path.Match(b, ""); err != nil {
				return nil, fmt.Errorf("%w: %s: bucket pattern %q: %v", ErrUsers, where, b, err)
			}
			switch strings.ToLower(a) {
			case "read":
				u.Buckets[b] = ReadAccess
			case "write":
				u.Buckets[b] = WriteAccess
			case "none":
				u.Buckets[b] = NoAccess
			default:
				return nil, fmt.Errorf("%w: %s: bucket %q: access %q; use read, write or none", ErrUsers, where, b, a)
			}
		}
		users = append(users, u)
	}
	return users, nil
}

func userSecret(cfg *config.Config, cu config.User) (string, error) {
	n := 0
	for _, s := range []string{cu.SecretKey, cu.SecretEnv, cu.SecretFile} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return "", errors.New("set exactly one of secret_key, secret_key_env and secret_key_file")
	}
	var secret string
	switch {
	case cu.SecretKey != "":
		secret = cu.SecretKey
	case cu.SecretEnv != "":
		secret = os.Getenv(cu.SecretEnv)
		if secret == "" {
			return "", fmt.Errorf("environment variable %s (secret_key_env) is empty or unset", cu.SecretEnv)
		}
	default:
		b, err := os.ReadFile(cfg.Resolve(cu.SecretFile))
		if err != nil {
			return "", fmt.Errorf("secret_key_file: %w", err)
		}
		secret = strings.TrimSpace(string(b))
		if secret == "" {
			return "", fmt.Errorf("secret_key_file %s is empty", cu.SecretFile)
		}
	}
	if len(secret) < 8 {
		return "", errors.New("the secret key is shorter than 8 characters")
	}
	return secret, nil
}

// authenticate verifies the request's SigV4 signature (header or presigned
// URL) and returns the user it belongs to.
func (s *Server) authenticate(q *request) error {
	res, err := sigv4.Verify(q.r, s.lookup, s.now(), &sigv4.Options{MaxSkew: s.maxSkew})
	if err != nil {
		return err
	}
	q.auth = res
	q.user = s.users[res.AccessKey]
	return nil
}

// authorize checks that the user may perform an operation needing need on
// the addressed bucket, and that writes do not address a view.
func (s *Server) authorize(q *request, need Access) error {
	if need == NoAccess {
		return nil
	}
	if need == WriteAccess && q.view.isView() {
		return errReadOnlyView(q.bucket, q.view)
	}
	if got := q.user.Access(q.view.Bucket); got < need {
		return errorf("AccessDenied", http.StatusForbidden, "Access Denied: %s has %s access to bucket %s; this request needs %s",
			q.user.AccessKey, got, q.view.Bucket, need)
	}
	return nil
}
