package device

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// cacheFile is what the cache holds. Server and DeviceNumber say whose
// voucher it is: a cache written for another device or server is not used.
// The template secret is never stored: it is in the firmware already.
type cacheFile struct {
	Server       string `json:"server"`
	DeviceNumber string `json:"device_number"`
	DeviceID     string `json:"device_id"`
	// Voucher is the voucher exactly as the server issued it: a JSON string.
	Voucher string `json:"voucher"`
	// IssuedAt and ExpiresAt are when it was received and when it expires.
	IssuedAt  *time.Time `json:"issued_at,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// loadCache returns the voucher cached for c's device and server, or nil if
// there is none. An unreadable or foreign cache counts as none; the next
// successful Provision overwrites it.
func loadCache(c Config) *Voucher {
	b, err := os.ReadFile(c.CachePath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		c.Logger.Warn("voucher cache unreadable", "path", c.CachePath, "err", err)
		return nil
	}
	var f cacheFile
	if err := json.Unmarshal(b, &f); err != nil {
		c.Logger.Warn("voucher cache is not valid JSON; ignoring it", "path", c.CachePath)
		return nil
	}
	if f.DeviceNumber != c.DeviceNumber || !sameServer(f.Server, c.origin) {
		c.Logger.Info("voucher cache is for another device or server; ignoring it", "path", c.CachePath,
			"cached_device_number", f.DeviceNumber, "cached_server", f.Server)
		return nil
	}
	v, err := parseVoucher(f.DeviceID, f.Voucher)
	if err != nil {
		c.Logger.Warn("voucher cache holds no usable voucher; ignoring it", "path", c.CachePath, "err", err)
		return nil
	}
	if f.IssuedAt != nil {
		v.IssuedAt = *f.IssuedAt
	}
	if f.ExpiresAt != nil {
		v.ExpiresAt = *f.ExpiresAt
	}
	return v
}

// sameServer compares base URLs, ignoring a trailing slash.
func sameServer(a, b string) bool {
	return strings.TrimRight(a, "/") == strings.TrimRight(b, "/")
}

// saveCache writes the voucher to c.CachePath atomically: into a temporary
// file in the same directory, readable by its owner only, synced, then
// renamed over the cache. A crash leaves either the old cache or the new one,
// never half of one; the directory is created (0700) if missing.
func saveCache(c Config, v *Voucher, voucher string) error {
	f := cacheFile{Server: c.origin, DeviceNumber: c.DeviceNumber, DeviceID: v.DeviceID, Voucher: voucher}
	if !v.IssuedAt.IsZero() {
		f.IssuedAt = &v.IssuedAt
	}
	if !v.ExpiresAt.IsZero() {
		f.ExpiresAt = &v.ExpiresAt
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(c.CachePath)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("device: create cache directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(c.CachePath)+".tmp-*")
	if err != nil {
		return fmt.Errorf("device: write voucher cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := writeSynced(tmp, b); err != nil {
		return fmt.Errorf("device: write voucher cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.CachePath); err != nil {
		return fmt.Errorf("device: write voucher cache: %w", err)
	}
	syncDir(dir)
	return nil
}

// writeSynced makes f private, writes b, syncs and closes f.
func writeSynced(f *os.File, b []byte) error {
	// Private before the first byte: the voucher is never readable by others,
	// even for a moment, whatever the umask.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes a rename in dir durable. Not every system can sync a
// directory; the rename is still atomic there, so a failure is ignored.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// Forget deletes the cached voucher of cfg, so that the next Provision asks
// the server again. A missing cache is not an error.
func Forget(cfg Config) error {
	if cfg.CachePath == "" {
		return errors.New("device: no cache path")
	}
	if err := os.Remove(cfg.CachePath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("device: forget voucher: %w", err)
	}
	return nil
}
