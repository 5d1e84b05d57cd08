package keys

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the size of data keys and master keys in bytes.
const KeySize = 32

// ErrKeyFile is returned when a key file exists but cannot be used:
// wrong length, not base64, or readable by others.
var ErrKeyFile = errors.New("keys: unusable key file")

// NewDataKey returns a fresh random data key for one version.
func NewDataKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("keys: data key: %w", err)
	}
	return k, nil
}

// Derive returns a subkey of key for one purpose ("block", "manifest"),
// so one data key never serves two ciphers.
func Derive(key []byte, purpose string) []byte {
	out, err := hkdf.Key(sha256.New, key, nil, "rhizome/v1/"+purpose, KeySize)
	if err != nil {
		panic("keys: hkdf: " + err.Error()) // only for impossible lengths
	}
	return out
}

// Wrap hides a data key under the master key before it is shared: the
// shared secret is dataKey xor HKDF(master, versionID). Without the master
// key, even k shares reveal nothing. Wrap is its own inverse (Unwrap).
// A nil master returns the data key unchanged.
func Wrap(master, dataKey, versionID []byte) []byte {
	out := append([]byte(nil), dataKey...)
	if master == nil {
		return out
	}
	pad, err := hkdf.Key(sha256.New, master, versionID, "rhizome/v1/wrap", len(dataKey))
	if err != nil {
		panic("keys: hkdf: " + err.Error())
	}
	for i := range out {
		out[i] ^= pad[i]
	}
	return out
}

// Unwrap reverses Wrap.
func Unwrap(master, wrapped, versionID []byte) []byte { return Wrap(master, wrapped, versionID) }

// LoadOrCreateSigningKey reads the ed25519 signing key at path (base64 of
// the 32-byte seed), creating it with mode 0600 when absent.
func LoadOrCreateSigningKey(path string) (ed25519.PrivateKey, error) {
	seed, err := readKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		seed = make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, fmt.Errorf("keys: signing key: %w", err)
		}
		if err := writeKeyFile(path, seed); err != nil {
			return nil, err
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// LoadMasterKey reads a master key file (base64 of 32 bytes).
func LoadMasterKey(path string) ([]byte, error) {
	return readKeyFile(path)
}

// CreateMasterKey writes a new random master key to path (mode 0600) and
// refuses to overwrite an existing file.
func CreateMasterKey(path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("keys: %s already exists; refusing to overwrite a master key", path)
	}
	k, err := NewDataKey()
	if err != nil {
		return err
	}
	return writeKeyFile(path, k)
}

func readKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(raw) != KeySize {
		return nil, fmt.Errorf("%w: %s must hold base64 of exactly %d bytes", ErrKeyFile, path, KeySize)
	}
	return raw, nil
}

func writeKeyFile(path string, key []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	tmp := path + ".tmp"
	data := base64.StdEncoding.EncodeToString(key) + "\n"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	return nil
}
