package nats

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"sync"

	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/nacl/box"
)

// The format of nkeys' curve-key boxes (xkeys.go): a version, the nonce,
// then a NaCl box.
const (
	xkeyVersion = "xkv1"
	nonceLen    = 24
	maxPeers    = 1024 // servers whose shared keys are kept
)

var errBox = errors.New("nats: cannot open the callout request (another xkey?)")

// boxes opens the servers' callout requests and seals otos's answers, as
// nkeys' Open and Seal do, but keeps the key shared with each server: the
// curve multiplication behind it is the largest cost of a callout, and a
// cluster has few servers.
type boxes struct {
	private [32]byte
	mu      sync.Mutex
	shared  map[string]*[32]byte // by the server's public xkey
}

func newBoxes(private []byte) *boxes {
	b := &boxes{shared: map[string]*[32]byte{}}
	copy(b.private[:], private)
	return b
}

// key returns the key shared with the server whose public xkey is peer.
func (b *boxes) key(peer string) (*[32]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if k := b.shared[peer]; k != nil {
		return k, nil
	}
	raw, err := nkeys.Decode(nkeys.PrefixByteCurve, []byte(peer))
	if err != nil || len(raw) != 32 {
		return nil, errBox
	}
	if len(b.shared) >= maxPeers {
		clear(b.shared)
	}
	var pub [32]byte
	copy(pub[:], raw)
	k := new([32]byte)
	box.Precompute(k, &pub, &b.private)
	b.shared[peer] = k
	return k, nil
}

// open returns the plain text of in, sealed by the server peer.
func (b *boxes) open(in []byte, peer string) ([]byte, error) {
	if len(in) <= len(xkeyVersion)+nonceLen || !bytes.HasPrefix(in, []byte(xkeyVersion)) {
		return nil, errBox
	}
	k, err := b.key(peer)
	if err != nil {
		return nil, err
	}
	var nonce [nonceLen]byte
	copy(nonce[:], in[len(xkeyVersion):])
	out, ok := box.OpenAfterPrecomputation(nil, in[len(xkeyVersion)+nonceLen:], &nonce, k)
	if !ok {
		return nil, errBox
	}
	return out, nil
}

// seal returns msg sealed for the server peer.
func (b *boxes) seal(msg []byte, peer string) ([]byte, error) {
	k, err := b.key(peer)
	if err != nil {
		return nil, err
	}
	var nonce [nonceLen]byte
	if _, err := io.ReadFull(rand.Reader, nonce[:]); err != nil {
		return nil, err
	}
	out := append([]byte(xkeyVersion), nonce[:]...)
	return box.SealAfterPrecomputation(out, msg, &nonce, k), nil
}
