package provision

import (
	"context"
	"strconv"
	"time"

	"github.com/otos-iot/otos"
)

// verifySigned finds the template of a signed request and checks its
// timestamp, its signature and its nonce, in that order: ESECRETUNKNOWN for
// an unknown template, ESTALE, EBADSIGNATURE, EREPLAY.
func (r *Registrar) verifySigned(ctx context.Context, req *otos.AuthRequest) (*otos.Template, error) {
	t, err := r.signedTemplate(ctx, req)
	if err != nil {
		return nil, err
	}
	now := r.now()
	ms, _ := strconv.ParseInt(req.Timestamp, 10, 64)
	if d := now.Sub(time.UnixMilli(ms)); d > otos.SignWindow || d < -otos.SignWindow {
		return nil, &otos.Error{Code: otos.ESTALE, Field: "timestamp",
			Message: "timestamp is more than 5 minutes from the server's time; check the device clock"}
	}
	secrets, err := r.views.openSecrets(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	if !anyVerifies(secrets, req.SigningString(), req.Sign) {
		return nil, &otos.Error{Code: otos.EBADSIGNATURE, Field: "sign", Message: "Signature does not verify"}
	}
	// Only a request that proved the secret may spend a nonce.
	err = r.store.UseNonce(ctx, t.ID, req.Nonce, now.Add(2*otos.SignWindow), now)
	if otos.ErrorCode(err) == otos.ECONFLICT {
		return nil, &otos.Error{Code: otos.EREPLAY, Field: "nonce", Message: "nonce was already used; send a fresh one"}
	}
	return t, err
}

// signedTemplate resolves template_id, or else product_key, to the template.
func (r *Registrar) signedTemplate(ctx context.Context, req *otos.AuthRequest) (*otos.Template, error) {
	unknown := otos.Errorf(otos.ESECRETUNKNOWN, "Template does not exist")
	id := req.TemplateID
	if id == "" {
		p, err := r.store.ProductByKey(ctx, req.ProductKey)
		if err != nil {
			return nil, ifNotFound(err, unknown)
		}
		id = p.TemplateID
	}
	t, err := r.views.template(ctx, id)
	if err == nil && t == nil {
		err = unknown
	}
	return t, err
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
