package provision

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/otos-iot/otos"
)

// secretsTTL bounds how long a node keeps a template's opened secrets: a
// rotation on another node is seen within it.
const secretsTTL = 5 * time.Second

// openedSecrets caches, per template, its valid secrets in plain text, so
// that verifying a signature costs no store read nor decryption.
type openedSecrets struct {
	mu sync.Mutex
	m  map[string]openedEntry
}

type openedEntry struct {
	secrets []otos.Secret
	until   time.Time
}

// verifySigned finds the template of a signed request and checks its
// timestamp, its signature and its nonce, in that order: ESECRETUNKNOWN for
// an unknown template, ESTALE, EBADSIGNATURE, EREPLAY.
func (s *Service) verifySigned(ctx context.Context, req *otos.AuthRequest) (*otos.Template, error) {
	t, err := s.signedTemplate(ctx, req)
	if err != nil {
		return nil, err
	}
	now := s.now()
	ms, _ := strconv.ParseInt(req.Timestamp, 10, 64)
	if d := now.Sub(time.UnixMilli(ms)); d > otos.SignWindow || d < -otos.SignWindow {
		return nil, &otos.Error{Code: otos.ESTALE, Field: "timestamp",
			Message: "timestamp is more than 5 minutes from the server's time; check the device clock"}
	}
	secrets, err := s.secretsOf(ctx, t.ID, now)
	if err != nil {
		return nil, err
	}
	if !anyVerifies(secrets, req.SigningString(), req.Sign) {
		return nil, &otos.Error{Code: otos.EBADSIGNATURE, Field: "sign", Message: "Signature does not verify"}
	}
	// Only a request that proved the secret may spend a nonce.
	err = s.store.UseNonce(ctx, t.ID, req.Nonce, now.Add(2*otos.SignWindow), now)
	if otos.ErrorCode(err) == otos.ECONFLICT {
		return nil, &otos.Error{Code: otos.EREPLAY, Field: "nonce", Message: "nonce was already used; send a fresh one"}
	}
	return t, err
}

// signedTemplate resolves template_id, or else product_key, to the template.
func (s *Service) signedTemplate(ctx context.Context, req *otos.AuthRequest) (*otos.Template, error) {
	unknown := otos.Errorf(otos.ESECRETUNKNOWN, "Template does not exist")
	id := req.TemplateID
	if id == "" {
		p, err := s.store.ProductByKey(ctx, req.ProductKey)
		if err != nil {
			return nil, ifNotFound(err, unknown)
		}
		id = p.TemplateID
	}
	t, err := s.store.Template(ctx, id)
	if err != nil {
		return nil, ifNotFound(err, unknown)
	}
	return t, nil
}

func anyVerifies(secrets []otos.Secret, s, sign string) bool {
	ok := false
	for _, secret := range secrets {
		// Check every one, so that the time taken does not tell which matched.
		if otos.VerifySign(secret, s, sign) {
			ok = true
		}
	}
	return ok
}

// secretsOf returns the template's valid secrets, opened.
func (s *Service) secretsOf(ctx context.Context, templateID string, now time.Time) ([]otos.Secret, error) {
	s.opened.mu.Lock()
	e, ok := s.opened.m[templateID]
	s.opened.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.secrets, nil
	}
	stored, err := s.store.TemplateSecrets(ctx, templateID, now)
	if err != nil {
		return nil, err
	}
	e = openedEntry{until: now.Add(secretsTTL)}
	for _, ts := range stored {
		secret, err := s.keys.Open(ts.Sealed)
		if err != nil {
			return nil, err
		}
		e.secrets = append(e.secrets, secret)
		if !ts.ExpiresAt.IsZero() && ts.ExpiresAt.Before(e.until) {
			e.until = ts.ExpiresAt // an old secret's grace ends: look again then
		}
	}
	s.opened.mu.Lock()
	if s.opened.m == nil {
		s.opened.m = map[string]openedEntry{}
	}
	s.opened.m[templateID] = e
	s.opened.mu.Unlock()
	return e.secrets, nil
}

// forgetSecrets drops the cached secrets of a template after a rotation.
func (s *Service) forgetSecrets(templateID string) {
	s.opened.mu.Lock()
	delete(s.opened.m, templateID)
	s.opened.mu.Unlock()
}
