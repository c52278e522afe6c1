package provision

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/otos-iot/otos"
)

// EnsureBootstrapToken makes sure the system token in the file at path is
// valid: it keeps a file that exists (registering its token if the store does
// not know it) and otherwise generates a token, stores its hash, and writes
// it to path with mode 0600. It reports whether it wrote the file.
func (a *Admin) EnsureBootstrapToken(ctx context.Context, path string) (bool, error) {
	return a.ensureBootstrap(ctx, path, otos.BootstrapTokenName)
}

// EnsureNodeToken is EnsureBootstrapToken for a node of several on one
// store: the token it stores is named after the node ("bootstrap@" + node),
// so that nodes starting with empty data directories do not revoke each
// other's tokens. Each node's token opens the admin API of every node.
func (a *Admin) EnsureNodeToken(ctx context.Context, path, node string) (bool, error) {
	return a.ensureBootstrap(ctx, path, otos.BootstrapTokenPrefix+node)
}

// ensureBootstrap is EnsureBootstrapToken for a token stored under name.
func (a *Admin) ensureBootstrap(ctx context.Context, path, name string) (bool, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		token := otos.Secret(strings.TrimSpace(string(b)))
		if len(token) < otos.MinAdminTokenLen {
			return false, fmt.Errorf("admin token in %s is shorter than %d characters", path, otos.MinAdminTokenLen)
		}
		_, err := a.store.TokenByHash(ctx, otos.TokenHash(token))
		if otos.ErrorCode(err) != otos.ENOTFOUND {
			return false, err
		}
		return false, a.replaceBootstrap(ctx, token, name)
	case !errors.Is(err, os.ErrNotExist):
		return false, fmt.Errorf("read admin token: %w", err)
	}
	token, err := a.newAdminToken()
	if err != nil {
		return false, err
	}
	if err := a.replaceBootstrap(ctx, token, name); err != nil {
		return false, err
	}
	if err := WriteFileAtomic(path, []byte(string(token)+"\n"), 0o600); err != nil {
		return false, fmt.Errorf("write admin token: %w", err)
	}
	return true, nil
}

// replaceBootstrap revokes earlier tokens named name and stores token's hash.
func (a *Admin) replaceBootstrap(ctx context.Context, token otos.Secret, name string) error {
	now := a.timestamp()
	if err := a.store.RevokeTokensByName(ctx, name, now); err != nil {
		return fmt.Errorf("revoke bootstrap token: %w", err)
	}
	id, err := a.newID()
	if err != nil {
		return err
	}
	t := &otos.Token{ID: id, Role: otos.RoleAdmin, Name: name, Hash: otos.TokenHash(token), CreatedAt: now}
	if err := a.store.CreateToken(ctx, t); err != nil {
		return fmt.Errorf("store bootstrap token: %w", err)
	}
	return nil
}
