// Package nats makes otos the authentication service of a NATS cluster: it
// answers nats-server's authorization callout for every connecting client
// (MQTT and NATS alike) with the device's or service account's permissions,
// relays uplinks to the consumer topics that name their device, and
// disconnects revoked devices wherever in the cluster they are connected.
//
// The server's configuration (ServerConfig, printed by `otos nats config`)
// holds four static accounts: OTOS for otos itself, OTOS_DEVICES for every
// device, OTOS_APPS for every service account, and the system account. The
// tenants are subject namespaces in these, which the permissions otos
// grants keep apart (see README, "NATS").
package nats

import (
	"bytes"
	"crypto/ed25519"
	"fmt"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// Keys are what otos and nats-server share: the account key that signs the
// callout's answers and users, the curve key under which the server
// encrypts requests to otos, and the user keys of otos's two connections
// (nkeys: the server holds only their public halves, and otos proves them by
// signing the server's nonce). They are derived from otos's server key, so
// every node that shares the store has the same, and nothing more is
// stored.
type Keys struct {
	Issuer nkeys.KeyPair
	XKey   nkeys.KeyPair
	User   nkeys.KeyPair // in AccountOTOS: callouts, relays, events
	Sys    nkeys.KeyPair // in the system account: connection events, kicks
}

// DeriveKeys returns the Keys that derive (the server key's Derive) gives.
func DeriveKeys(derive func(purpose string) []byte) (*Keys, error) {
	issuer, err := nkeys.FromRawSeed(nkeys.PrefixByteAccount, derive("otos/nats/issuer/v1"))
	if err != nil {
		return nil, fmt.Errorf("nats issuer key: %w", err)
	}
	xkey, err := nkeys.CreateCurveKeysWithRand(bytes.NewReader(derive("otos/nats/xkey/v1")))
	if err != nil {
		return nil, fmt.Errorf("nats xkey: %w", err)
	}
	user, err := nkeys.FromRawSeed(nkeys.PrefixByteUser, derive("otos/nats/user/v1"))
	if err != nil {
		return nil, fmt.Errorf("nats user key: %w", err)
	}
	sys, err := nkeys.FromRawSeed(nkeys.PrefixByteUser, derive("otos/nats/sys-user/v1"))
	if err != nil {
		return nil, fmt.Errorf("nats system user key: %w", err)
	}
	return &Keys{Issuer: issuer, XKey: xkey, User: user, Sys: sys}, nil
}

// signer returns kp's signature as a jwt.SignFn. nkeys expands the seed
// into the signing key at each signature, which is a tenth of a callout's
// cost; this expands it once.
func signer(kp nkeys.KeyPair) (jwt.SignFn, error) {
	seed, err := kp.Seed()
	if err != nil {
		return nil, err
	}
	_, raw, err := nkeys.DecodeSeed(seed)
	if err != nil {
		return nil, err
	}
	key := ed25519.NewKeyFromSeed(raw)
	return func(_ string, data []byte) ([]byte, error) { return ed25519.Sign(key, data), nil }, nil
}

// public returns kp's public key; a key pair made from a seed always has one.
func public(kp nkeys.KeyPair) string {
	p, err := kp.PublicKey()
	if err != nil {
		panic(err)
	}
	return p
}
